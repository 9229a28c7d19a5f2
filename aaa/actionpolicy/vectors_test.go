package actionpolicy

import (
	"errors"
	"testing"
)

// policySets are the policies of docs/actionpolicy.md §3 (file name → lines; a file
// named "groups" is the groups file).
var policySets = map[string]map[string][]string{
	"seed":               {"puppet.policy": {"policy default deny", "allow\tcert=rip\t*\t*\t*", "allow\tcert=john\t*\tcustomer=acme\tacme::devserver", "allow\tcert=john\tenable disable status\tcustomer=acme\t*"}},
	"seed_spaces":        {"puppet.policy": {"policy default deny", "allow cert=rip * * *", "allow cert=john * customer=acme acme::devserver", "allow cert=john enable disable status customer=acme *"}},
	"ambiguous_spaces":   {"rpcutil.policy": {"policy default deny", "allow admins ping * *"}, "groups": {"admins cert=rip"}},
	"only_default_allow": {"rpcutil.policy": {"policy default allow"}},
	"only_default_deny":  {"rpcutil.policy": {"policy default deny"}},
	"no_files":           {},
	"default_file":       {"default.policy": {"policy default deny", "allow\tcert=rip\t*\t*\t*"}},
	"agent_and_default":  {"rpcutil.policy": {"policy default allow"}, "default.policy": {"policy default deny"}},
	"default_file_deny":  {"default.policy": {"policy default deny"}},
	"fallback_file":      {"fallback.policy": {"policy default allow"}},
	"no_default_line":    {"rpcutil.policy": {"allow\tcert=rip\t*\t*\t*"}},
	"default_file_allow": {"default.policy": {"policy default allow"}},
	"deny_first":         {"rpcutil.policy": {"deny\tcert=bob\t*\t*\t*", "allow\t*\t*\t*\t*"}},
	"allow_first":        {"rpcutil.policy": {"allow\t*\t*\t*\t*", "deny\tcert=bob\t*\t*\t*"}},
	"default_last":       {"rpcutil.policy": {"allow\tcert=bob\tping\t*\t*", "policy default allow"}},
	"two_defaults":       {"rpcutil.policy": {"policy default allow", "policy default deny"}},
	"lists":              {"rpcutil.policy": {"policy default deny", "allow\tcert=alice cert=bob\tping get_fact\t*\t*"}},
	"groups":             {"rpcutil.policy": {"policy default deny", "allow\tadmins\t*\t*\t*"}, "groups": {"admins cert=alice cert=bob"}},
	"caller_regex":       {"rpcutil.policy": {"policy default deny", "allow\t/^up=/\t*\t*\t*"}},
	"bobby":              {"rpcutil.policy": {"policy default deny", "allow\tcert=bobby\tping\t*\t*"}},
	"uid500":             {"rpcutil.policy": {"policy default deny", "allow\tuid=500\t*\t*\t*"}},
	"alice_bob":          {"rpcutil.policy": {"policy default deny", "allow\tcert=alice cert=bob\t*\t*\t*"}},
	"two_facts":          {"rpcutil.policy": {"policy default deny", "allow\t*\t*\tcustomer=acme environment=production\t*"}},
	"gt":                 {"rpcutil.policy": {"policy default deny", "allow\t*\t*\tcpus>4\t*"}},
	"ge":                 {"rpcutil.policy": {"policy default deny", "allow\t*\t*\tcpus>=8\t*"}},
	"ne":                 {"rpcutil.policy": {"policy default deny", "allow\t*\t*\tcustomer!=globex\t*"}},
	"fact_regex":         {"rpcutil.policy": {"policy default deny", "allow\t*\t*\tcustomer=/^ac/\t*"}},
	"missing_fact":       {"rpcutil.policy": {"policy default deny", "allow\t*\t*\tmissing=x\t*"}},
	"lt":                 {"rpcutil.policy": {"policy default deny", "allow\t*\t*\tcpus<4\t*"}},
	"two_classes":        {"rpcutil.policy": {"policy default deny", "allow\t*\t*\t*\trole::web base"}},
	"class_regex":        {"rpcutil.policy": {"policy default deny", "allow\t*\t*\t*\t/^acme::/"}},
	"compound_facts":     {"puppet.policy": {"policy default deny", "allow\tcert=john\t*\tcustomer=acme and environment=production\t*"}},
	"compound_4col":      {"puppet.policy": {"policy default deny", "allow\tcert=john\trestart\t(customer=acme and environment=production) or environment=development"}},
	"compound_classes":   {"puppet.policy": {"policy default deny", "allow\tcert=john\t*\t*\tacme::devserver or role::db"}},
	"not":                {"puppet.policy": {"policy default deny", "allow\t*\t*\tnot environment=production\t*"}},
	"mixed_4col":         {"puppet.policy": {"policy default deny", "allow\t*\t*\tcustomer=acme and role::web"}},
	"and_or":             {"puppet.policy": {"policy default deny", "allow\t*\t*\tcustomer=globex or customer=acme and environment=development\t*"}},
	"four_col_star":      {"rpcutil.policy": {"policy default deny", "allow\tcert=alice\t*\t*"}},
	"blank_ws":           {"rpcutil.policy": {"policy default deny", "allow\tcert=alice\t*\t*\t*", " "}},
	"comments":           {"rpcutil.policy": {"# comment", "", "policy default deny", "   ", "allow\tcert=alice\t*\t*\t*"}},
	"trailing_space":     {"rpcutil.policy": {"policy default deny", "allow\tcert=alice\t*\t*\t* "}},
	"empty_field":        {"rpcutil.policy": {"policy default deny", "allow\tcert=alice\t*\t*\t\t*"}},
	"multi_tab":          {"rpcutil.policy": {"policy default deny", "allow\t\tcert=alice\t\t*\t\t*\t\t*"}},
	"six_fields":         {"rpcutil.policy": {"policy default deny", "allow\tcert=alice\t*\t*\tnonexistent_class\t*"}},
}

type vector struct {
	id, policy string
	cfg        Config // Dir is filled in
	node       string
	caller     string
	call       string // agent#action
	allow      bool
}

// vectors is docs/actionpolicy.md §3, tutti column, plus our own cases.
var vectors = []vector{
	{"S1", "seed", Config{}, "globex", "cert=rip", "puppet#runonce", true},
	{"S2", "seed", Config{}, "acme_dev", "cert=john", "puppet#runonce", true},
	{"S3", "seed", Config{}, "acme_prod", "cert=john", "puppet#runonce", false},
	{"S4", "seed", Config{}, "acme_prod", "cert=john", "puppet#status", true},
	{"S5", "seed", Config{}, "globex", "cert=john", "puppet#disable", false},
	{"S6", "seed", Config{}, "acme_dev", "cert=jill", "puppet#status", false},
	{"S7", "seed", Config{}, "acme_prod", "cert=jo", "puppet#status", false},
	{"S8", "seed_spaces", Config{}, "globex", "cert=rip", "puppet#runonce", true},
	{"S9", "seed_spaces", Config{}, "acme_prod", "cert=john", "puppet#status", true},
	{"S10", "ambiguous_spaces", Config{}, "globex", "cert=rip", "rpcutil#ping", false},
	{"D1", "only_default_allow", Config{}, "globex", "cert=anyone", "rpcutil#ping", true},
	{"D2", "only_default_deny", Config{}, "globex", "cert=anyone", "rpcutil#ping", false},
	{"D3", "no_files", Config{AllowUnconfigured: false}, "globex", "cert=anyone", "rpcutil#ping", false},
	{"D4", "no_files", Config{AllowUnconfigured: true}, "globex", "cert=anyone", "rpcutil#ping", true},
	{"D5", "default_file", Config{EnableDefault: true}, "globex", "cert=rip", "rpcutil#ping", true},
	{"D6", "default_file", Config{EnableDefault: true}, "globex", "cert=john", "rpcutil#ping", false},
	{"D7", "agent_and_default", Config{EnableDefault: true}, "globex", "cert=john", "rpcutil#ping", true},
	{"D8", "default_file_deny", Config{EnableDefault: true, AllowUnconfigured: true}, "globex", "cert=john", "rpcutil#ping", false},
	{"D9", "fallback_file", Config{EnableDefault: true, DefaultName: "fallback"}, "globex", "cert=john", "rpcutil#ping", true},
	{"D10", "no_default_line", Config{AllowUnconfigured: true}, "globex", "cert=john", "rpcutil#ping", true},
	{"D11", "no_default_line", Config{AllowUnconfigured: false}, "globex", "cert=john", "rpcutil#ping", false},
	{"D12", "default_file_allow", Config{EnableDefault: false}, "globex", "cert=john", "rpcutil#ping", false},
	{"O1", "deny_first", Config{}, "globex", "cert=bob", "rpcutil#ping", false},
	{"O2", "deny_first", Config{}, "globex", "cert=alice", "rpcutil#ping", true},
	{"O3", "allow_first", Config{}, "globex", "cert=bob", "rpcutil#ping", true},
	{"O4", "default_last", Config{}, "globex", "cert=carol", "rpcutil#inventory", true},
	{"O5", "two_defaults", Config{}, "globex", "cert=carol", "rpcutil#ping", false},
	{"C1", "lists", Config{}, "globex", "cert=bob", "rpcutil#ping", true},
	{"C2", "lists", Config{}, "globex", "cert=bob", "rpcutil#inventory", false},
	{"C3", "lists", Config{}, "globex", "cert=carol", "rpcutil#ping", false},
	{"C4", "groups", Config{}, "globex", "cert=bob", "rpcutil#ping", true},
	{"C5", "groups", Config{}, "globex", "cert=carol", "rpcutil#ping", false},
	{"C6", "caller_regex", Config{}, "globex", "up=bob", "rpcutil#ping", true},
	{"C7", "bobby", Config{}, "globex", "cert=bob", "rpcutil#ping", false},
	{"C8", "uid500", Config{}, "globex", "uid=50", "rpcutil#ping", false},
	{"C9", "alice_bob", Config{}, "globex", "cert=e", "rpcutil#ping", false},
	{"F1", "two_facts", Config{}, "acme_prod", "cert=x", "rpcutil#ping", true},
	{"F2", "two_facts", Config{}, "acme_dev", "cert=x", "rpcutil#ping", false},
	{"F3", "gt", Config{}, "acme_dev", "cert=x", "rpcutil#ping", true},
	{"F4", "ge", Config{}, "acme_prod", "cert=x", "rpcutil#ping", true},
	{"F5", "ne", Config{}, "acme_prod", "cert=x", "rpcutil#ping", true},
	{"F6", "fact_regex", Config{}, "acme_prod", "cert=x", "rpcutil#ping", true},
	{"F7", "missing_fact", Config{}, "acme_prod", "cert=x", "rpcutil#ping", false},
	{"F8", "lt", Config{}, "globex", "cert=x", "rpcutil#ping", true},
	{"K1", "two_classes", Config{}, "acme_dev", "cert=x", "rpcutil#ping", true},
	{"K2", "two_classes", Config{}, "acme_prod", "cert=x", "rpcutil#ping", false},
	{"K3", "class_regex", Config{}, "acme_dev", "cert=x", "rpcutil#ping", true},
	{"X1", "compound_facts", Config{}, "acme_prod", "cert=john", "puppet#runonce", true},
	{"X2", "compound_facts", Config{}, "acme_dev", "cert=john", "puppet#runonce", false},
	{"X3", "compound_4col", Config{}, "acme_dev", "cert=john", "puppet#restart", true},
	{"X4", "compound_4col", Config{}, "globex", "cert=john", "puppet#restart", false},
	{"X5", "compound_classes", Config{}, "acme_prod", "cert=john", "puppet#runonce", true},
	{"X6", "not", Config{}, "acme_dev", "cert=x", "puppet#runonce", true},
	{"X7", "mixed_4col", Config{}, "acme_dev", "cert=x", "puppet#runonce", true},
	{"X8", "and_or", Config{}, "globex", "cert=x", "puppet#runonce", false},
	{"Q1", "four_col_star", Config{}, "globex", "cert=alice", "rpcutil#ping", false},
	{"Q2", "blank_ws", Config{}, "globex", "cert=alice", "rpcutil#ping", true},
	{"M1", "comments", Config{}, "globex", "cert=alice", "rpcutil#ping", true},
	{"M2", "trailing_space", Config{}, "globex", "cert=alice", "rpcutil#ping", false},
	{"M3", "empty_field", Config{}, "globex", "cert=alice", "rpcutil#ping", true},
	{"M4", "multi_tab", Config{}, "globex", "cert=alice", "rpcutil#ping", true},
	{"M5", "six_fields", Config{}, "globex", "cert=alice", "rpcutil#ping", false},
}

func TestVectors(t *testing.T) {
	if len(vectors) != 62 { // docs/actionpolicy.md §3: 62 cases
		t.Fatalf("docs/actionpolicy.md §3 has 62 vectors, table has %d", len(vectors))
	}
	for _, v := range vectors {
		t.Run(v.id, func(t *testing.T) {
			files, ok := policySets[v.policy]
			if !ok {
				t.Fatalf("unknown policy set %q", v.policy)
			}
			dir := t.TempDir()
			writeFiles(t, dir, files)
			cfg := v.cfg
			cfg.Dir = dir
			a, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			d := a.Authorize(request(v.node, v.caller, v.call))
			if d.Allowed != v.allow {
				t.Fatalf("%s %s on %s: Allowed = %v, want %v (reason %q)", v.caller, v.call, v.node, d.Allowed, v.allow, d.Reason)
			}
			if d.Reason == "" {
				t.Error("empty reason")
			}
			if (d.Denial() == nil) != v.allow || !v.allow && !errors.Is(d.Denial(), ErrDenied) {
				t.Errorf("Denial() = %v for Allowed=%v", d.Denial(), d.Allowed)
			}
		})
	}
}
