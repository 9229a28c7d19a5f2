package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/security/x509"
)

func newPKICmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pki",
		Short: "A small certificate authority for development fleets",
		Long: "pki makes a CA and issues node, broker and user certificates from it. Sites with their own CA\n" +
			"can use certificates made with openssl instead: tutti needs PEM files and a CA bundle.",
	}
	var dir, keyType string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create a CA (ca.pem, ca.key) in --dir",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			kt, err := x509.ParseKeyType(keyType)
			if err != nil {
				return exitWith(ExitUsage, err)
			}
			if _, err := x509.InitDir(dir, kt); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "created CA in %s (ca.pem, ca.key)\n", dir)
			return nil
		},
	}
	var sans []string
	var days int
	var force bool
	issueCmd := &cobra.Command{
		Use:   "issue NAME",
		Short: "Issue a certificate NAME.pem and key NAME.key (0600) from the CA in --dir",
		Long: "issue makes a certificate for NAME, valid for TLS server and client use and for signing requests.\n" +
			"Users are named <user>.mcollective, privileged signers <name>.privileged.mcollective.\n" +
			"Choria servers verify only RSA request signatures: in a fleet that has them, issue caller\n" +
			"certificates with --key-type rsa (issue says so when it makes one with another key).",
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			kt, err := x509.ParseKeyType(keyType)
			if err != nil {
				return exitWith(ExitUsage, err)
			}
			if days < 1 {
				return exitWith(ExitUsage, fmt.Errorf("--days %d: the certificate's validity would end by today and every broker and node would refuse it; give 1 or more", days))
			}
			if err := refuseOverwrite(dir, args[0], force); err != nil {
				return exitWith(ExitUsage, err)
			}
			cert, key, err := x509.IssueToDir(dir, args[0], x509.IssueOptions{KeyType: kt, SANs: sans, Validity: time.Duration(days) * 24 * time.Hour})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "issued %s: %s %s\n", args[0], cert, key)
			if kt != x509.KeyRSA && x509.IsCallerName(args[0]) {
				fmt.Fprintf(g.stdout, "note: %s is a caller certificate with an %s key: tutti nodes verify it, Choria servers cannot\n"+
					"(they crash on requests signed with it). For a fleet with Choria servers, issue it with --key-type rsa\n"+
					"and set plugin.tutti.choria_servers = true (choria_servers: true for tutti-aaa).\n", args[0], strings.ToUpper(string(kt)))
			}
			return nil
		},
	}
	for _, c := range []*cobra.Command{initCmd, issueCmd} {
		c.Flags().StringVar(&dir, "dir", "./pki", "PKI directory")
		c.Flags().StringVar(&keyType, "key-type", "ecdsa", "key type: ecdsa (P-256), rsa (2048, needed where Choria nodes verify) or ed25519")
	}
	issueCmd.Flags().StringSliceVar(&sans, "san", nil, "extra subject alternative names (DNS names or IP addresses)")
	issueCmd.Flags().IntVar(&days, "days", 365, "validity in days (at least 1)")
	issueCmd.Flags().BoolVar(&force, "force", false, "replace an existing NAME.pem and NAME.key")
	cmd.AddCommand(initCmd, issueCmd)
	cmd.AddCommand(newPKIRevokeCmds(g)...)
	return cmd
}

// refuseOverwrite refuses to replace an existing certificate or key of
// name in dir unless force is set: a node or user may be using them.
func refuseOverwrite(dir, name string, force bool) error {
	if force {
		return nil
	}
	for _, f := range []string{name + ".pem", name + ".key"} {
		p := filepath.Join(dir, f)
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists; refusing to replace it (a node or user may be using it): add --force to issue a new certificate and key", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
