// TLS for direct Postgres connections (postgres.js), decided by the URL's sslmode as libpq decides
// it, with one difference: without sslmode, a remote host gets TLS (require) instead of libpq's
// opportunistic prefer, so a DATABASE_URL never travels in clear by accident. Loopback hosts
// (a local server, a Unix socket) default to no TLS, which a local server rarely offers.

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** What postgres.js takes as `ssl`: false, a mode it knows, or Node TLS options. */
export type PostgresSsl = false | 'prefer' | 'require' | { rejectUnauthorized: true; checkServerIdentity?: () => undefined };

/** 127.0.0.0/8, ::1, localhost, or no host at all (postgres.js then uses a local default). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === '' || host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** The URL's sslmode, or the default for its host. Throws a RangeError (never quoting the URL) on an unknown mode. */
export function sslModeOf(databaseUrl: string): SslMode {
  const url = new URL(databaseUrl);
  const given = url.searchParams.get('sslmode');
  if (given === null) {
    const hosts = url.hostname.split(',');
    return hosts.every((h) => isLoopbackHost(h.replace(/:\d+$/, ''))) ? 'disable' : 'require';
  }
  if (!(SSL_MODES as readonly string[]).includes(given)) {
    throw new RangeError(`sslmode must be one of ${SSL_MODES.join(', ')}, got "${given}"`);
  }
  return given as SslMode;
}

/**
 * The postgres.js `ssl` option for a URL. `allow` connects like `prefer` (postgres.js cannot try
 * plain first); `verify-ca` checks the certificate chain but not the host name; `verify-full`
 * both (trust a private CA such as Supabase's with NODE_EXTRA_CA_CERTS).
 */
export function postgresSsl(databaseUrl: string): PostgresSsl {
  switch (sslModeOf(databaseUrl)) {
    case 'disable':
      return false;
    case 'allow':
    case 'prefer':
      return 'prefer';
    case 'require':
      return 'require';
    case 'verify-ca':
      return { rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { rejectUnauthorized: true };
  }
}
