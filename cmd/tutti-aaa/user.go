package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/tuttifleet/tutti/aaa/login"
	"github.com/tuttifleet/tutti/aaa/signer"
)

// userFlags locate the users file: --users-file, or the service config's
// userlist_authenticator.users_file.
type userFlags struct {
	config, usersFile, issuer string
}

func (f *userFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.config, "config", "", "service configuration naming userlist_authenticator.users_file")
	cmd.Flags().StringVar(&f.usersFile, "users-file", "", "the users file to edit (instead of --config)")
	cmd.Flags().StringVar(&f.issuer, "issuer", "tutti-aaa", "the service name authenticator apps show")
}

func (f *userFlags) path() (string, error) {
	switch {
	case f.usersFile != "" && f.config != "":
		return "", errors.New("give --users-file or --config, not both")
	case f.usersFile != "":
		return f.usersFile, nil
	case f.config == "":
		return "", errors.New("no users file: give --users-file or --config")
	}
	data, err := os.ReadFile(f.config)
	if err != nil {
		return "", fmt.Errorf("%w: %w", signer.ErrConfig, err)
	}
	cfg, _, err := signer.ParseConfigWith(data, resolveChoriaConfig)
	if err != nil {
		return "", err
	}
	if cfg.Userlist.UsersFile == "" {
		return "", fmt.Errorf("%s has no userlist_authenticator.users_file (inline users cannot be edited)", f.config)
	}
	return cfg.Userlist.UsersFile, nil
}

func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Add users and enrol their second factor in the users file",
		Long: `user edits the users file the service reads (it notices the change within a second).
A YAML file keeps its comments; an aaasvc JSON file stays JSON. The file is checked before it is
replaced, in one rename, with its mode kept (0600 when new: it holds password hashes and secrets).`,
	}
	cmd.AddCommand(newUserAddCmd(), newUserTOTPCmd())
	return cmd
}

func newUserAddCmd() *cobra.Command {
	var f userFlags
	var acls []string
	var callerID string
	var withTOTP bool
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a user: asks for the password (twice on a terminal, else one line of stdin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := f.path()
			if err != nil {
				return err
			}
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
			if err != nil {
				return fmt.Errorf("hash password: %w", err)
			}
			entry := login.NewUserEntry{Username: args[0], Password: string(h), CallerID: callerID, ACLs: acls}
			if withTOTP {
				secret, err := enrolTOTP(cmd, f.issuer, args[0])
				if err != nil {
					return err
				}
				entry.TOTPSecret = secret
			}
			if err := login.AddUser(path, entry); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Added %s to %s\n", args[0], path)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringSliceVar(&acls, "acl", nil, `what the user may call: "*", "<agent>.*" or "<agent>.<action>" (repeatable)`)
	cmd.Flags().StringVar(&callerID, "callerid", "", "the caller id signed for the user (default up=NAME)")
	cmd.Flags().BoolVar(&withTOTP, "totp", false, "enrol a one-time code second factor too (as user totp)")
	return cmd
}

func newUserTOTPCmd() *cobra.Command {
	var f userFlags
	var remove bool
	cmd := &cobra.Command{
		Use:   "totp NAME",
		Short: "Enrol (or replace) a user's one-time code second factor: prints the otpauth URI and a QR code",
		Long: `totp makes a new TOTP secret (RFC 6238: SHA-1, 6 digits, 30 s) for the user, prints its otpauth://
URI and a QR code to scan with an authenticator app and, on a terminal, asks for a code from the
app before it stores the secret with the user's entry. From then on tutti login asks the user for a
code after the password. --remove takes the second factor away.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := f.path()
			if err != nil {
				return err
			}
			if remove {
				if err := login.SetTOTPSecret(path, args[0], ""); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Removed the second factor of %s in %s\n", args[0], path)
				return nil
			}
			secret, err := enrolTOTP(cmd, f.issuer, args[0])
			if err != nil {
				return err
			}
			if err := login.SetTOTPSecret(path, args[0], secret); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Stored the second factor of %s in %s\n", args[0], path)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&remove, "remove", false, "remove the user's second factor")
	return cmd
}

// enrolTOTP makes a secret, shows it, and on a terminal checks a code
// from the user's app before it is stored.
func enrolTOTP(cmd *cobra.Command, issuer, user string) (string, error) {
	uri, secret, err := login.GenerateTOTP(issuer, user)
	if err != nil {
		return "", err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "Scan this with an authenticator app, or enter the secret %s:\n\n", secret)
	if err := writeQR(out, uri); err != nil {
		return "", err
	}
	fmt.Fprintf(out, "\n%s\n\n", uri)
	f, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return secret, nil // not interactive: stored unconfirmed
	}
	in := bufio.NewReader(f)
	for range 3 {
		fmt.Fprint(cmd.ErrOrStderr(), "Code shown by the app: ")
		line, err := in.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("read code: %w", err)
		}
		if codeMatches(secret, strings.TrimSpace(line), time.Now()) {
			return secret, nil
		}
		fmt.Fprintln(cmd.ErrOrStderr(), "That code does not match; check the app's clock and try again.")
	}
	return "", errors.New("no matching code: the second factor was not stored")
}

// codeMatches accepts the code of now or of the step either side.
func codeMatches(secret, code string, now time.Time) bool {
	for _, d := range []time.Duration{0, -login.TOTPPeriod, login.TOTPPeriod} {
		if c, err := login.TOTPCode(secret, now.Add(d)); err == nil && c == code {
			return true
		}
	}
	return false
}

// writeQR draws content as a QR code with half-block characters, two
// modules a line, light modules as full blocks (readable on dark and
// light terminals alike), with a quiet zone.
func writeQR(w io.Writer, content string) error {
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return fmt.Errorf("qr code: %w", err)
	}
	const quiet = 2
	size := code.Bounds().Dx()
	dark := func(x, y int) bool {
		x, y = x-quiet, y-quiet
		if x < 0 || y < 0 || x >= size || y >= size {
			return false
		}
		r, _, _, _ := code.At(x, y).RGBA()
		return r < 0x8000
	}
	var b strings.Builder
	for y := 0; y < size+2*quiet; y += 2 {
		for x := range size + 2*quiet {
			top, bottom := !dark(x, y), !dark(x, y+1) && y+1 < size+2*quiet
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		b.WriteByte('\n')
	}
	_, err = io.WriteString(w, b.String())
	return err
}
