package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/aaa/revoke"
	"github.com/tuttifleet/tutti/aaa/signer"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Revoke login tokens and list revocations",
		Long: `token writes revocations where the service reads them (token_revocation: the JetStream bucket
TUTTI_TOKEN_REVOCATIONS when the service has JetStream, else a local file). Signers refuse a
revoked token from then on (error_code token_revoked). Requests signed before stay valid on the
nodes until their ttl passes.`,
	}
	cmd.AddCommand(newTokenRevokeCmd(), newTokenListCmd())
	return cmd
}

// openStore opens the revocation store the service configuration names.
func openStore(cmd *cobra.Command, configFile string) (signer.RevocationStore, error) {
	data, err := os.ReadFile(configFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", signer.ErrConfig, err)
	}
	cfg, _, err := signer.ParseConfigWith(data, resolveChoriaConfig)
	if err != nil {
		return nil, err
	}
	l := logrus.New()
	l.SetOutput(cmd.ErrOrStderr())
	l.SetLevel(logrus.WarnLevel)
	st, err := signer.OpenRevocations(cfg, logrus.NewEntry(l))
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("%s names no revocation store: set token_revocation.file or .servers", configFile)
	}
	return st, nil
}

func newTokenRevokeCmd() *cobra.Command {
	var configFile, userName, jti, reason, by string
	cmd := &cobra.Command{
		Use:   "revoke (--user NAME | --id JTI)",
		Short: "Revoke one token by its id, or every token of a user issued until now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (userName == "") == (jti == "") {
				return errors.New("give exactly one of --user and --id")
			}
			if by == "" {
				by = currentUser()
			}
			e := revoke.Entry{User: userName, JTI: jti, RevokedAt: time.Now().UTC(), By: by, Reason: reason}
			if err := e.Validate(); err != nil {
				return err
			}
			st, err := openStore(cmd, configFile)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Revoke(cmd.Context(), e); err != nil {
				return err
			}
			what := "token " + jti
			if jti == "" {
				what = "every token of " + userName + " issued until " + e.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Revoked %s\n", what)
			return nil
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "service configuration (YAML, or aaasvc JSON)")
	cmd.Flags().StringVar(&userName, "user", "", "revoke every token of this user issued until now")
	cmd.Flags().StringVar(&jti, "id", "", "revoke the token with this id (its jti claim, in the service log and audit)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the log and the list")
	cmd.Flags().StringVar(&by, "by", "", "who revokes (default the login name running this)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func newTokenListCmd() *cobra.Command {
	var configFile string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the revocations in force",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd, configFile)
			if err != nil {
				return err
			}
			defer st.Close()
			list, err := st.List(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tREVOKED AT\tBY\tREASON")
			for _, e := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Key(), e.RevokedAt.UTC().Format(time.RFC3339), e.By, e.Reason)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "service configuration (YAML, or aaasvc JSON)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}
