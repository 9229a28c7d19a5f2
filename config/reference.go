package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// referenceIntro is the hand-written part of docs/config-reference.md: the
// file format, which the key tables below it assume.
const referenceIntro = `# Configuration reference

Generated from the key table in ` + "`config/keytable.go`" + ` by ` + "`make docs`" + `; do not edit by hand
(TestConfigReference fails when this file is stale). How-to material lives in
[quickstart.md](quickstart.md), [operations.md](operations.md) and [security.md](security.md).

## 1. File format

* One ` + "`key = value`" + ` per line; white space around key and value is trimmed. A line whose
  first non-blank character is ` + "`#`" + ` is a comment. There are **no inline comments**: in
  ` + "`ttl = 60 # s`" + ` the value is ` + "`60 # s`" + ` and is refused.
* When a key appears twice, the last line wins.
* **Relative paths resolve against the directory of the config file** (` + "`<configdir>`" + `), not
  against the working directory: in ` + "`/etc/tutti/client.conf`" + `, ` + "`plugin.security.file.ca = pki/ca.pem`" + `
  means ` + "`/etc/tutti/pki/ca.pem`" + `. A leading ` + "`~`" + ` is the home directory of the user running the program.
* After the main file, every ` + "`<configdir>/plugin.d/<name>.cfg`" + ` is read in name order; its keys are
  prefixed with ` + "`plugin.<name>.`" + ` and win over the main file. Files under ` + "`$HOME`" + ` skip plugin.d.
* Booleans: ` + "`1 y yes t true`" + ` and ` + "`0 n no f false`" + `. Durations: plain seconds (` + "`60`" + `, ` + "`0.5`" + `)
  or Go syntax (` + "`90s`" + `, ` + "`500ms`" + `, ` + "`1h`" + `). Lists are comma-separated; path lists are ` + "`:`" + `-separated.
* Keys without the ` + "`plugin.`" + ` prefix that are not listed here are refused with the nearest known
  key as a suggestion; unknown ` + "`plugin.`" + ` keys are warnings. *ignored* and *unsupported* keys
  are accepted with a warning (Choria or MCollective files load as they are) and have no effect;
  *broker only* keys configure the embedded broker and are warned about elsewhere. A value that
  does not parse stops the program with the file, line and key.
* ` + "`<n>`" + ` in a key is a 1-based number.
`

// Reference renders docs/config-reference.md: the file format, the search
// lists, then one numbered table per key-table section with key, type,
// default and meaning.
func Reference() string {
	var b strings.Builder
	b.WriteString(referenceIntro)
	b.WriteString("\n## 2. Where the programs look\n\n")
	list := func(who string, paths []string) {
		fmt.Fprintf(&b, "* %s: `--config`, else the first of these that exists:\n", who)
		for _, p := range paths {
			fmt.Fprintf(&b, "  * `%s`\n", p)
		}
	}
	list("`tuttid` (the node)", ServerConfigPaths())
	list("`tuttid broker`", BrokerConfigPaths())
	list("`tutti` (the client; also `-c FILE`)", ClientConfigPaths())
	b.WriteString("  With none of them, each program stops with an error that lists the files it searched.\n")
	n := 2
	section := ""
	for _, ki := range KnownKeys() {
		if ki.Section != section {
			section = ki.Section
			n++
			fmt.Fprintf(&b, "\n## %d. %s\n\n| key | type | default | meaning |\n|---|---|---|---|\n", n, section)
		}
		typ := ki.Kind.String()
		if ki.Kind == KindEnum {
			typ = strings.Join(ki.Enum, " \\| ")
		}
		meaning := ki.Description
		if ki.Status != Supported {
			meaning = fmt.Sprintf("*%s*: %s", ki.Status, meaning)
		}
		def := ""
		switch {
		case strings.Contains(ki.Default, " "): // prose, not a value
			def = mdCell(ki.Default)
		case ki.Default != "":
			def = "`" + mdCell(ki.Default) + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", ki.Key, typ, def, mdCell(meaning))
	}
	if len(aliases) > 0 {
		fmt.Fprintf(&b, "\n## %d. aliases\n\n| accepted (with a warning) | means |\n|---|---|\n", n+1)
		for _, a := range slices.Sorted(maps.Keys(aliases)) {
			fmt.Fprintf(&b, "| `%s` | `%s` |\n", a, aliases[a])
		}
	}
	return b.String()
}

// mdCell escapes the table separator in a cell.
func mdCell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
