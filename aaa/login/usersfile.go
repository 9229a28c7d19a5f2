package login

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// NewUserEntry is what AddUser writes for a new user; empty fields are
// left out (their defaults apply).
type NewUserEntry struct {
	Username   string   `json:"username" yaml:"username"`
	Password   string   `json:"password" yaml:"password"`
	CallerID   string   `json:"callerid,omitempty" yaml:"callerid,omitempty"`
	ACLs       []string `json:"acls,omitempty" yaml:"acls,omitempty"`
	TOTPSecret string   `json:"totp_secret,omitempty" yaml:"totp_secret,omitempty"`
}

// AddUser appends u to the users file at path, creating it (mode 0600)
// when it does not exist. A user of that name already there is refused.
// The file keeps its format (YAML with its comments, or aaasvc JSON) and
// mode; the result is checked with ParseUsers before it replaces the
// file, in one rename.
func AddUser(path string, u NewUserEntry) error {
	return editUsersFile(path, func(d *usersDoc) error {
		if d.find(u.Username) {
			return fmt.Errorf("user %q already exists in %s", u.Username, path)
		}
		return d.add(u)
	})
}

// SetTOTPSecret sets (or, with "", removes) the totp_secret of user name
// in the users file at path, as AddUser edits it.
func SetTOTPSecret(path, name, secret string) error {
	return editUsersFile(path, func(d *usersDoc) error {
		if !d.find(name) {
			return fmt.Errorf("no user %q in %s (add it with tutti-aaa user add)", name, path)
		}
		return d.set(name, "totp_secret", secret)
	})
}

// usersDoc is a users file being edited: a YAML node tree or decoded
// JSON, whichever the file is.
type usersDoc struct {
	yaml    *yaml.Node     // the sequence of users (YAML)
	root    *yaml.Node     // the document node (YAML)
	json    []any          // the users (JSON)
	jsonDoc map[string]any // the {"users": …} object, when the JSON had one
}

func editUsersFile(path string, edit func(*usersDoc) error) error {
	data, err := os.ReadFile(path)
	mode := fs.FileMode(0o600)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		data = nil
	case err != nil:
		return fmt.Errorf("users file: %w", err)
	default:
		if st, err := os.Stat(path); err == nil {
			mode = st.Mode().Perm()
		}
	}
	d, err := parseUsersDoc(data)
	if err != nil {
		return fmt.Errorf("users file %s: %w", path, err)
	}
	if err := edit(d); err != nil {
		return err
	}
	out, err := d.encode()
	if err != nil {
		return fmt.Errorf("users file %s: %w", path, err)
	}
	if _, err := ParseUsers(out); err != nil {
		return fmt.Errorf("users file %s would be invalid, not written: %w", path, err)
	}
	return writeFileAtomic(path, out, mode)
}

func parseUsersDoc(data []byte) (*usersDoc, error) {
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		return &usersDoc{yaml: seq, root: &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{seq}}}, nil
	case trimmed[0] == '[':
		d := &usersDoc{}
		if err := json.Unmarshal(trimmed, &d.json); err != nil {
			return nil, err
		}
		return d, nil
	case trimmed[0] == '{':
		d := &usersDoc{}
		if err := json.Unmarshal(trimmed, &d.jsonDoc); err != nil {
			return nil, err
		}
		list, _ := d.jsonDoc["users"].([]any)
		d.json = list
		return d, nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 {
		return nil, errors.New("not a YAML document")
	}
	top := root.Content[0]
	if top.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(top.Content); i += 2 {
			if top.Content[i].Value == "users" {
				top = top.Content[i+1]
				break
			}
		}
	}
	if top.Kind != yaml.SequenceNode {
		return nil, errors.New("no list of users (a YAML list, or a mapping with a users list)")
	}
	return &usersDoc{yaml: top, root: &root}, nil
}

// yamlEntry is the mapping node of user name, or nil.
func (d *usersDoc) yamlEntry(name string) *yaml.Node {
	for _, n := range d.yaml.Content {
		if n.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "username" && n.Content[i+1].Value == name {
				return n
			}
		}
	}
	return nil
}

func (d *usersDoc) jsonEntry(name string) map[string]any {
	for _, e := range d.json {
		if m, ok := e.(map[string]any); ok && m["username"] == name {
			return m
		}
	}
	return nil
}

func (d *usersDoc) find(name string) bool {
	if d.yaml != nil {
		return d.yamlEntry(name) != nil
	}
	return d.jsonEntry(name) != nil
}

func (d *usersDoc) add(u NewUserEntry) error {
	if d.yaml != nil {
		var n yaml.Node
		if err := n.Encode(u); err != nil {
			return err
		}
		d.yaml.Content = append(d.yaml.Content, &n)
		d.yaml.Style = 0 // block style, also when the list was written [] or flow
		return nil
	}
	b, err := json.Marshal(u)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	d.json = append(d.json, m)
	return nil
}

// set sets key of user name to value, or removes it when value is "".
func (d *usersDoc) set(name, key, value string) error {
	if d.yaml == nil {
		m := d.jsonEntry(name)
		if value == "" {
			delete(m, key)
		} else {
			m[key] = value
		}
		return nil
	}
	n := d.yamlEntry(name)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			if value == "" {
				n.Content = append(n.Content[:i], n.Content[i+2:]...)
			} else {
				n.Content[i+1] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}
			}
			return nil
		}
	}
	if value != "" {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
	}
	return nil
}

func (d *usersDoc) encode() ([]byte, error) {
	if d.yaml != nil {
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(d.root); err != nil {
			return nil, err
		}
		return buf.Bytes(), enc.Close()
	}
	var v any = d.json
	if d.jsonDoc != nil {
		d.jsonDoc["users"] = d.json
		v = d.jsonDoc
	}
	b, err := json.MarshalIndent(v, "", "\t")
	return append(b, '\n'), err
}

// writeFileAtomic replaces path with data (mode) through a temporary
// file in the same directory and a rename: readers (the service's
// reload) see the old file or the new one, never half of it.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".users-*")
	if err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("users file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("users file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("users file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	return nil
}
