// Credential ACLs (ngrok's `bind:` rules), checked when an agent binds. An empty ACL or a `*`
// rule allows everything. Otherwise each kind of bind needs a matching rule:
//   host names  `bind:app.example.com`, `bind:*.example.com` (any name under it) → else ERR_NGROK_316
//   TCP address `bind:1.tcp.example.com:20000` (host:port)                      → else ERR_NGROK_308
//   labels      `bind:key=value`, `bind:*=value`, `bind:key=*` (every label)     → else ERR_NGROK_399
// A random name or port (no domain/subdomain/remote address asked for) cannot match a rule, so a
// restricted credential must name what it binds (ERR_NGROK_316 / ERR_NGROK_356).

export interface AclRefusal {
  code: string;
  message: string;
}

export interface BindAsk {
  proto: 'http' | 'tcp' | 'tls';
  /** Full host name asked for (domain, or subdomain under the edge's domain). */
  host?: string;
  /** TCP `host:port` asked for. */
  remoteAddr?: string;
  labels?: Record<string, string>;
}

function bindValues(acl: readonly string[]): string[] | undefined {
  if (acl.length === 0 || acl.includes('*')) return undefined;
  return acl.filter((r) => r.startsWith('bind:')).map((r) => r.slice(5).toLowerCase());
}

function hostAllowed(rules: string[], host: string): boolean {
  const h = host.toLowerCase();
  return rules.some(
    (r) => !r.includes('=') && (r === h || (r.startsWith('*.') && h.endsWith(r.slice(1)) && h.length > r.length - 1)),
  );
}

function labelAllowed(rules: string[], key: string, value: string): boolean {
  return rules.some((r) => {
    const eq = r.indexOf('=');
    if (eq === -1) return false;
    const k = r.slice(0, eq);
    const v = r.slice(eq + 1);
    return (k === '*' || k === key.toLowerCase()) && (v === '*' || v === value.toLowerCase());
  });
}

/** undefined when `acl` allows the bind, else the refusal with ngrok's code. */
export function checkAcl(acl: readonly string[], ask: BindAsk): AclRefusal | undefined {
  const rules = bindValues(acl);
  if (!rules) return undefined;
  if (ask.labels && Object.keys(ask.labels).length) {
    for (const [k, v] of Object.entries(ask.labels)) {
      if (!labelAllowed(rules, k, v))
        return { code: 'ERR_NGROK_399', message: `the credential's ACL does not permit binding the label ${k}=${v}` };
    }
    return undefined;
  }
  if (ask.proto === 'tcp') {
    if (!ask.remoteAddr)
      return {
        code: 'ERR_NGROK_356',
        message: "the credential's ACL does not permit binding a random TCP address: ask for one it allows",
      };
    return rules.includes(ask.remoteAddr.toLowerCase())
      ? undefined
      : {
          code: 'ERR_NGROK_308',
          message: `the credential's ACL does not permit binding the address ${ask.remoteAddr}`,
        };
  }
  if (!ask.host)
    return {
      code: 'ERR_NGROK_316',
      message: "the credential's ACL does not permit binding a random name: ask for a domain it allows",
    };
  return hostAllowed(rules, ask.host)
    ? undefined
    : { code: 'ERR_NGROK_316', message: `the credential's ACL does not permit binding the name ${ask.host}` };
}

/** Checks rule syntax beyond the schema's pattern: `bind:` values must be a domain, address or label. */
export function invalidAclRule(acl: readonly string[]): string | undefined {
  return acl.find((r) => {
    if (r === '*') return false;
    if (!r.startsWith('bind:')) return true;
    const v = r.slice(5);
    if (v.includes('=')) return !/^(\*|[^=\s*]+)=(\*|[^=\s*]+)$/.test(v);
    return !/^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:\d{1,5})?$/.test(v);
  });
}
