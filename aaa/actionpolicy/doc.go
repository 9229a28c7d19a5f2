// Package actionpolicy is the node's authorization provider: the
// MCollective/Choria ActionPolicy file format (docs/actionpolicy.md §2) with tutti's
// fail-closed choices.
//
// A policy directory holds one <agent>.policy file per agent, an optional
// <default_name>.policy used when enable_default is on, and an optional
// "groups" file naming caller groups. Each policy file is read top to
// bottom; the first rule whose callers, actions, facts and classes all
// match decides, otherwise the file's `policy default` (or, without one,
// allow_unconfigured) does.
//
// Differences from the references, all deliberate (docs/actionpolicy.md §2.8):
//
//   - callers match whole tokens, group members or /regex/, never a
//     substring of the field (W4: `cert=bobby` does not admit `cert=bob`);
//   - every fact operator of docs/actionpolicy.md §2.5 works, through the one parser
//     shared with discovery filters (protocol.ParseFactTest/MatchFact);
//   - compound facts/classes fields are evaluated with MCollective's
//     meaning: `and`/`or` have equal precedence, left to right, `not`/`!`
//     bind tightest; a data-function test such as `puppet().enabled=false`
//     makes the whole rule not match (no data plugins exist, W16);
//   - lines with more than five TAB-separated fields are ignored with a
//     warning instead of silently dropping fields;
//   - a rule written with spaces instead of TABs is read with a strict
//     grammar when every token belongs to exactly one field; otherwise the
//     whole file is refused (every request for that agent is denied) and
//     the error names the line and says "use TABs between fields";
//   - a file that cannot be read or parsed denies everything for its agent
//     and is logged at Error level; it never allows.
//
// Policies are parsed once and cached by the Authorizer. Files are checked
// for changes (mtime/size, new and removed files) at most once per second
// on the request path and on every Reload; a request never reads a file.
package actionpolicy
