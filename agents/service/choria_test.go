package service

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// choriaLibdirDDL is where the packages put the DDL for Choria clients:
// <libdir>/mcollective/agent/service.json under the libdir of Choria's
// Puppet-made installs (dist/nfpm.yaml; scripts/test-packages checks the
// installed file).
const choriaLibdirDDL = "/opt/puppetlabs/mcollective/plugins/mcollective/agent/service.json"

func TestPackagesShipDDLForChoria(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "dist", "nfpm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		Contents []struct{ Src, Dst string }
	}
	if err := yaml.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{choriaLibdirDDL: false, "/usr/share/tutti/plugins/mcollective/agent/service.json": false}
	for _, c := range pkg.Contents {
		if _, ok := want[c.Dst]; ok {
			if c.Src != "./agents/service/service.json" {
				t.Errorf("%s comes from %s, not the DDL tuttid embeds", c.Dst, c.Src)
			}
			want[c.Dst] = true
		}
	}
	for dst, found := range want {
		if !found {
			t.Errorf("dist/nfpm.yaml does not ship %s", dst)
		}
	}
}

// TestDDLIsChoriaShaped checks the fields a Choria client reads from an
// agent DDL (choria req resolves the DDL before it sends anything).
func TestDDLIsChoriaShaped(t *testing.T) {
	b, err := os.ReadFile("service.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Schema   string            `json:"$schema"`
		Metadata map[string]any    `json:"metadata"`
		Actions  []json.RawMessage `json:"actions"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.Schema != "https://choria.io/schemas/mcorpc/ddl/v1/agent.json" {
		t.Errorf("$schema %q", d.Schema)
	}
	for _, k := range []string{"name", "description", "author", "license", "version", "url", "timeout"} {
		if _, ok := d.Metadata[k]; !ok {
			t.Errorf("metadata has no %s", k)
		}
	}
	for _, raw := range d.Actions {
		var a struct {
			Action, Description, Display string
			Input                        map[string]map[string]any
			Output                       map[string]map[string]any
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatal(err)
		}
		if a.Action == "" || a.Description == "" || a.Display == "" || a.Input == nil || a.Output == nil {
			t.Errorf("action %q lacks action, description, display, input or output", a.Action)
		}
		for name, in := range a.Input {
			for _, k := range []string{"prompt", "description", "type", "optional"} {
				if _, ok := in[k]; !ok {
					t.Errorf("%s input %s has no %s", a.Action, name, k)
				}
			}
		}
		for name, out := range a.Output {
			for _, k := range []string{"description", "display_as"} {
				if _, ok := out[k]; !ok {
					t.Errorf("%s output %s has no %s", a.Action, name, k)
				}
			}
		}
	}
}
