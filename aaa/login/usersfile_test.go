package login

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsersFileEdits(t *testing.T) {
	h := mustHash(t, "secret")
	_, secret, err := GenerateTOTP("test", "bob")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"new file":     "",
		"yaml list":    "# operators\n- username: alice # the first\n  password: '" + h + "'\n  acls: ['*']\n",
		"yaml mapping": "users:\n  - username: alice\n    password: '" + h + "'\n",
		"aaasvc json":  "[\n\t{\"username\":\"alice\",\"password\":\"" + h + "\",\"organization\":\"acme\"}\n]\n",
		"json object":  "{\"users\":[{\"username\":\"alice\",\"password\":\"" + h + "\"}]}",
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "users")
			if doc != "" {
				if err := os.WriteFile(path, []byte(doc), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			if err := AddUser(path, NewUserEntry{Username: "bob", Password: h, ACLs: []string{"rpcutil.*"}}); err != nil {
				t.Fatal(err)
			}
			if err := AddUser(path, NewUserEntry{Username: "bob", Password: h}); err == nil || !strings.Contains(err.Error(), "already exists") {
				t.Fatalf("second add: %v", err)
			}
			if err := SetTOTPSecret(path, "bob", secret); err != nil {
				t.Fatal(err)
			}
			if err := SetTOTPSecret(path, "nobody", secret); err == nil || !strings.Contains(err.Error(), "no user") {
				t.Fatalf("unknown user: %v", err)
			}
			us, err := LoadUsersFile(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			bob, ok := us.Lookup("bob")
			if !ok || bob.TOTPSecret != secret || strings.Join(bob.ACLs, ",") != "rpcutil.*" {
				t.Fatalf("bob = %+v", bob)
			}
			if doc != "" {
				if alice, ok := us.Lookup("alice"); !ok || alice.Password != h {
					t.Fatalf("alice lost: %+v", alice)
				}
			}
			data, _ := os.ReadFile(path)
			if strings.HasPrefix(doc, "# operators") && !strings.Contains(string(data), "# the first") {
				t.Errorf("comments lost:\n%s", data)
			}
			if strings.Contains(doc, "acme") && !strings.Contains(string(data), "acme") {
				t.Errorf("fields lost:\n%s", data)
			}
			st, _ := os.Stat(path)
			if want := map[bool]os.FileMode{true: 0o600, false: 0o640}[doc == ""]; st.Mode().Perm() != want {
				t.Errorf("mode %v, want %v", st.Mode().Perm(), want)
			}
			// removing the second factor
			if err := SetTOTPSecret(path, "bob", ""); err != nil {
				t.Fatal(err)
			}
			if err := us.Reload(); err != nil {
				t.Fatal(err)
			}
			if bob, _ := us.Lookup("bob"); bob.TOTPSecret != "" {
				t.Fatal("totp_secret not removed")
			}
		})
	}
	t.Run("a broken result is not written", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "users")
		if err := os.WriteFile(path, []byte("- username: alice\n  password: '"+h+"'\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := SetTOTPSecret(path, "alice", "short"); err == nil || !strings.Contains(err.Error(), "not written") {
			t.Fatalf("err = %v", err)
		}
	})
}

func FuzzUsersFileEdit(f *testing.F) {
	f.Add([]byte("- username: alice\n  password: x\n"))
	f.Add([]byte("users:\n  - {username: alice}\n"))
	f.Add([]byte(`[{"username":"alice"}]`))
	f.Add([]byte(`{"users":[{"username":"alice"}],"x":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := parseUsersDoc(data)
		if err != nil {
			return
		}
		if d.find("alice") {
			_ = d.set("alice", "totp_secret", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
		}
		_ = d.add(NewUserEntry{Username: "bob", Password: "x"})
		out, err := d.encode()
		if err != nil {
			return
		}
		d2, err := parseUsersDoc(out)
		if err != nil {
			t.Fatalf("encoded file does not parse: %v\n%s", err, out)
		}
		if !d2.find("bob") {
			t.Fatalf("added user lost:\n%s", out)
		}
	})
}
