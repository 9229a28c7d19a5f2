// Package compound parses and evaluates compound selection expressions:
// the -S/--select flag of the CLI and the {"expr": "..."} entries of a
// filter's compound list (docs/protocol.md §13.2).
//
// The language is the subset of Choria's expr-lang environment that nodes
// need, plus MCollective-style bare statements:
//
//	with('role=web') && fact('os.family') == 'linux'
//	facts.os.family == 'Debian' or include(classes, 'role::db')
//	role=web and not /^db/                 (bare fact test, bare class regex)
//	apache && cpus>=4                       (bare class name, bare fact test)
//
// Operands:
//
//   - literals: 'string' or "string" (\\ \' \" \n \t \r escapes; any other
//     backslash is kept as written so regular expressions read naturally),
//     numbers (-1, 2.5), true, false, nil;
//   - variables facts, classes and agents, with member access
//     (facts.os.family, facts['os']) — a missing member is nil;
//   - functions with('<fact test> | <class> | </class re/> | <agent>'),
//     fact('dotted.path'), include(list, value) and identity() (a tutti
//     extension);
//   - bare statements: a word immediately followed by a fact operator is a
//     fact test parsed by protocol.ParseFactTest (role=web, cpus>=4,
//     os.family=~^lin); /re/ is a class regex; any other word is a class
//     name. Class and agent names and their /re/ are case-sensitive, as on
//     Choria's nodes; fact values follow protocol.MatchFact.
//
// Operators, tightest first: ! and not (prefix); == != < > <= >= =~
// matches in (one per operand pair, no chaining); && and and; || and or.
// "matches" is a Go regular expression as written (expr-lang semantics);
// "=~" is the fact-test form: case-insensitive, slashes optional.
//
// Comparisons are typed: numbers numerically, strings exactly (case
// matters, unlike fact tests), booleans by value; different types are
// never equal. An ordering comparison with a missing value (nil) is false;
// one between other mismatched types is an evaluation error.
//
// An expression must evaluate to a boolean. Any evaluation error makes
// Eval return false with the error. A call to a function this package does
// not know parses (data plugins may exist on other nodes) but makes every
// evaluation false with ErrUnknownFunction, whatever the rest of the
// expression says, so "not unknown()" can never select a node (W16).
//
// Choria's nodes evaluate the expr-lang forms only: Expr.ChoriaForm
// rewrites the bare statements as with('...') for the wire, and
// Expr.ChoriaUnsupported names what Choria's nodes would reject.
//
// Parse once and share the *Expr: it is immutable and safe for concurrent
// use.
package compound
