package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"
)

func newHashPasswordCmd() *cobra.Command {
	var cost int
	cmd := &cobra.Command{
		Use:   "hash-password",
		Short: "Print a bcrypt hash of a password for the users file",
		Long: `hash-password prompts for a password twice on a terminal, or reads one line from
standard input otherwise, and prints its bcrypt hash.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
			if err != nil {
				return fmt.Errorf("hash password: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(h))
			return nil
		},
	}
	cmd.Flags().IntVar(&cost, "cost", bcrypt.DefaultCost, "bcrypt cost (4-31)")
	return cmd
}

func readPassword(cmd *cobra.Command) (string, error) {
	if f, ok := cmd.InOrStdin().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		prompt := func(p string) (string, error) {
			fmt.Fprint(cmd.ErrOrStderr(), p)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(cmd.ErrOrStderr())
			return string(b), err
		}
		pw, err := prompt("Password: ")
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		again, err := prompt("Again: ")
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if pw != again {
			return "", errors.New("the passwords differ")
		}
		return checkPassword(pw)
	}
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	return checkPassword(strings.TrimRight(line, "\r\n"))
}

func checkPassword(pw string) (string, error) {
	if pw == "" {
		return "", errors.New("empty password")
	}
	if len(pw) > 72 {
		return "", errors.New("bcrypt passwords are limited to 72 bytes")
	}
	return pw, nil
}
