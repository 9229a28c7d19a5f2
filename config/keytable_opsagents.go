package config

// opsAgentKeys are the keys of the nettest, puppet and shell agents
// (agents/nettest, agents/puppet, agents/shell). The agents read them
// through their node's ConfigItem and apply these defaults themselves.
func opsAgentKeys() []KeyInfo {
	return section("nettest, puppet and shell agents",
		enum("plugin.tutti.nettest.ping_method", "auto", "nettest agent: how ping reaches a host: auto (ICMP, else a TCP handshake to port 80), icmp or tcp", "auto", "icmp", "tcp"),
		k("plugin.tutti.puppet.command", KindString, "/opt/puppetlabs/bin/puppet", "puppet agent: absolute path of puppet (else /usr/bin/puppet)"),
		k("plugin.tutti.puppet.statedir", KindString, "/opt/puppetlabs/puppet/cache/state", "puppet agent: Puppet's statedir, holding agent_disabled.lock and agent_catalog_run.lock"),
		k("plugin.tutti.puppet.summary", KindString, "/opt/puppetlabs/puppet/public/last_run_summary.yaml", "puppet agent: Puppet's lastrunfile (else <statedir>/last_run_summary.yaml)"),
		k("plugin.tutti.puppet.pidfile", KindString, "/var/run/puppetlabs/agent.pid", "puppet agent: the Puppet daemon's PID file"),
		k("plugin.tutti.shell.enabled", KindBool, "false", "shell agent: allow shell#run on this node (ActionPolicy still decides who may)"),
		k("plugin.tutti.shell.path", KindString, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "shell agent: where programs named without '/' are looked up, and their PATH"),
		k("plugin.tutti.shell.max_output", KindInt, "65536", "shell agent: bytes kept of each of stdout and stderr (at most 262144)"),
	)
}
