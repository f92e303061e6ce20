// A certified OpenID provider (panva/oidc-provider 9) for Lettuce's tests, on
// 127.0.0.1 only. Started by scripts/test-peers; never for production.
//
//   OIDC_PORT            port (issuer http://127.0.0.1:$OIDC_PORT)
//   OIDC_REDIRECT_URIS   comma-separated redirect URIs of the `lettuce-web` client
//   OIDC_RESOURCE        resource indicator / `aud` of JWT access tokens
//                        (default https://lettuce.test/api)
//
// Clients: `lettuce-cc` / `cc-secret` (client_credentials, JWT access tokens
// for OIDC_RESOURCE) and `lettuce-web` / `web-secret` (authorization code +
// PKCE, post-logout redirect to the same origins). Dev interactions are on:
// any login name signs in as that subject (email <login>@example.com).
// POST /__rotate replaces the signing key (new kid) without changing the
// issuer, as a provider's key rotation does.
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';
import { generateKeyPair, exportJWK } from 'jose';

const port = Number(process.env.OIDC_PORT || 9400);
const issuer = `http://127.0.0.1:${port}`;
const resource = process.env.OIDC_RESOURCE || 'https://lettuce.test/api';
const redirectUris = (process.env.OIDC_REDIRECT_URIS || 'http://127.0.0.1:8080/v1/auth/oidc/callback')
  .split(',').map((s) => s.trim()).filter(Boolean);
const postLogout = redirectUris.map((u) => new URL(u).origin + '/');

async function signingKey() {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };
}

async function makeProvider() {
  const provider = new Provider(issuer, {
    clients: [
      { client_id: 'lettuce-cc', client_secret: 'cc-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
      {
        client_id: 'lettuce-web', client_secret: 'web-secret', grant_types: ['authorization_code'],
        response_types: ['code'], redirect_uris: redirectUris, post_logout_redirect_uris: postLogout,
      },
    ],
    jwks: { keys: [await signingKey()] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    // ID tokens of the code flow carry the scope's claims (email).
    conformIdTokenClaims: false,
    findAccount: (ctx, id) => ({
      accountId: id,
      claims: () => ({ sub: id, email: `${id}@example.com`, email_verified: true }),
    }),
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'api', audience: resource, accessTokenTTL: 600,
          accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    ttl: { AccessToken: 600, ClientCredentials: 600, IdToken: 600 },
  });
  provider.proxy = false;
  return provider;
}

let provider = await makeProvider();
http.createServer(async (req, res) => {
  if (req.method === 'POST' && req.url === '/__rotate') {
    provider = await makeProvider();
    res.writeHead(204).end();
    return;
  }
  provider.callback()(req, res);
}).listen(port, '127.0.0.1', () => console.log(`oidc-provider ${issuer}`));
