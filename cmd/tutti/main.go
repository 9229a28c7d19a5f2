// Command tutti is the fleet RPC client: ping, rpc, discovery, pki and the demo.
package main

import (
	"os"

	"github.com/tuttifleet/tutti/cmd/tutti/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
