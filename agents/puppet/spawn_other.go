//go:build !unix

package puppet

import "errors"

func spawn(path string, args, env []string) error {
	return errors.New("background Puppet runs need a Unix system")
}
