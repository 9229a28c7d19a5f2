// Package revoke holds token revocations for tutti-aaa
// (docs/central-aaa.md, "Revoking tokens"): an administrator revokes one
// token by its id (jti) or every token of a user issued until then, and
// the signer refuses to sign with them from then on.
//
// Revocations live in a JetStream key-value bucket (BucketName) when the
// service has JetStream, so that every tutti-aaa instance watching it
// agrees, or else in a local file. A key is "jti.<token id>" or
// "user.<name>"; a value is an Entry as JSON. Set is the in-memory view
// the signer consults on every request: a map lookup, no I/O.
package revoke
