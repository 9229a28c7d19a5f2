package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Reference renders the key table as Markdown: one table per section with
// key, type, default and meaning, for docs/config-reference.md.
func Reference() string {
	var b strings.Builder
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("Generated from the key table in `config/keytable.go`. `<n>` is a 1-based number.\n")
	b.WriteString("Keys without the `plugin.` prefix that are not listed here are refused; unknown `plugin.` keys are warned about.\n")
	section := ""
	for _, ki := range KnownKeys() {
		if ki.Section != section {
			section = ki.Section
			fmt.Fprintf(&b, "\n## %s\n\n| key | type | default | meaning |\n|---|---|---|---|\n", section)
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
		b.WriteString("\n## aliases\n\n| accepted (with a warning) | means |\n|---|---|\n")
		for _, a := range slices.Sorted(maps.Keys(aliases)) {
			fmt.Fprintf(&b, "| `%s` | `%s` |\n", a, aliases[a])
		}
	}
	return b.String()
}

// mdCell escapes the table separator in a cell.
func mdCell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
