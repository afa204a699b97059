// A real OAuth 2.1 / OpenID authorization server for the resource-server tests: panva's
// oidc-provider (OpenID Certified), installed into .peers/ by scripts/install-peers.sh.
//
//   PEERS=.peers PORT=<free port> JWKS=<file with private JWKs> RESOURCES=<uri>[,<uri>...] \
//   REDIRECT=<redirect uri> node tests/oauth_server.mjs
//
// Issuer http://127.0.0.1:PORT. Clients: `ci-bot` and `ops-bot` (client_credentials, secret
// "<id>-secret"), `web` (public, authorization code + PKCE, redirect REDIRECT; dynamic client
// registration is on too, for the SDK's client). Every resource in RESOURCES may be requested as
// an RFC 8707 resource indicator and gets JWT access tokens with that resource as `aud` and the
// scope `tools` (opaque tokens instead with OPAQUE=1, for introspection by the `gateway` client,
// secret "gateway-secret"); the first key in JWKS signs (restart with a new first key to rotate). `GET
// /_count` answers how many times each path was requested, so a test can count JWKS fetches.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const peers = resolve(process.env.PEERS ?? '.peers');
const { default: Provider } = await import(pathToFileURL(join(peers, 'node_modules/oidc-provider/lib/index.js')));

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const resources = (process.env.RESOURCES ?? '').split(',').filter(Boolean);
const jwks = JSON.parse(readFileSync(process.env.JWKS, 'utf8'));
const ttl = Number(process.env.TOKEN_TTL ?? 300);

const provider = new Provider(issuer, {
  clients: [
    { client_id: 'ci-bot', client_secret: 'ci-bot-secret', token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials'], redirect_uris: [], response_types: [], scope: 'tools' },
    { client_id: 'ops-bot', client_secret: 'ops-bot-secret', token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials'], redirect_uris: [], response_types: [], scope: 'tools' },
    // The gateway itself, for RFC 7662 introspection of opaque tokens.
    { client_id: 'gateway', client_secret: 'gateway-secret', token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
    {
      client_id: 'web',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: process.env.REDIRECT ? [process.env.REDIRECT] : [],
      scope: 'openid tools offline_access',
    },
  ],
  jwks,
  scopes: ['openid', 'offline_access', 'tools'],
  pkce: { required: () => true },
  clientDefaults: { grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    registration: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => {
        if (!resources.includes(indicator)) throw new Provider.errors.InvalidTarget();
        return { scope: 'tools', audience: indicator, accessTokenTTL: ttl, accessTokenFormat: process.env.OPAQUE ? 'opaque' : 'jwt', jwt: { sign: { alg: 'RS256' } } };
      },
    },
  },
  // The authorization-code grant asks for consent to the `tools` scope of the resource; the dev
  // interactions grant whatever is missing, as a person clicking "Continue" would.
  loadExistingGrant: async (ctx) => {
    const id = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    return id ? ctx.oidc.provider.Grant.find(id) : undefined;
  },
});
provider.proxy = false;

const counts = {};
const callback = provider.callback();
const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (path === '/_count') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(counts));
    return;
  }
  counts[path] = (counts[path] ?? 0) + 1;
  callback(req, res);
});
server.listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
