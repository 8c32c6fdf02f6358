// A small OpenID Provider for the end-to-end tests, on the oidc-provider library:
// discovery, authorize, token, userinfo and JWKS come from the library; this file
// adds in-memory accounts with passwords and a `groups` claim, one confidential
// client, and the login and consent pages a browser fills in.
//
//   node server.mjs CONFIG.json
//
// CONFIG: {"issuer": "https://id.example.test:9443", "port": 9443,
//          "tls": {"cert": "cert.pem", "key": "key.pem"}        (paths beside CONFIG),
//          "client": {"client_id": "...", "client_secret": "...", "redirect_uris": ["..."]},
//          "accounts": {"alice": {"password": "...", "name": "Alice", "groups": ["staff"]}}}
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import querystring from 'node:querystring';

import Provider from 'oidc-provider';

const configPath = process.argv[2] || '/etc/oidc/config.json';
const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));
const beside = (name) => fs.readFileSync(path.resolve(path.dirname(configPath), name));
const accounts = config.accounts;

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, title, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(`<!DOCTYPE html><html><head><title>${escapeHtml(title)}</title></head>`
    + `<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`);
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { data += chunk; if (data.length > 10000) req.destroy(); });
    req.on('end', () => resolve(querystring.parse(data)));
    req.on('error', reject);
  });
}

const provider = new Provider(config.issuer, {
  clients: [{
    ...config.client,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [{ ...crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid: 'e2e', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          preferred_username: id,
          name: account.name || id,
          email: `${id}@example.test`,
          email_verified: true,
          groups: account.groups || [],
        };
      },
    };
  },
});

function loginForm(res, uid, error = '') {
  page(res, 200, 'Sign in', `${error ? `<p id="error">${escapeHtml(error)}</p>` : ''}
    <form method="post" action="/interaction/${uid}/login">
      <label>User name <input id="login" name="login" autocomplete="username" autofocus></label>
      <label>Password <input id="password" name="password" type="password" autocomplete="current-password"></label>
      <button id="sign-in" type="submit">Sign in</button>
    </form>`);
}

function consentForm(res, uid, details) {
  const scopes = details.missingOIDCScope || [];
  page(res, 200, 'Authorize', `<p>The application <code>${escapeHtml(config.client.client_id)}</code> asks for:
    <span id="scopes">${escapeHtml(scopes.join(' '))}</span></p>
    <form method="post" action="/interaction/${uid}/confirm"><button id="allow" type="submit">Allow</button></form>`);
}

async function interaction(req, res) {
  const [, , uid, action] = new URL(req.url, config.issuer).pathname.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return page(res, 400, 'Wrong interaction', '');
  const { prompt, params, session } = details;
  if (req.method === 'GET' && !action) {
    return prompt.name === 'login' ? loginForm(res, uid) : consentForm(res, uid, prompt.details);
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const account = accounts[form.login];
    const given = Buffer.from(String(form.password || ''));
    const expected = Buffer.from(account ? account.password : '');
    if (!account || given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
      return loginForm(res, uid, 'Wrong user name or password');
    }
    return provider.interactionFinished(req, res, { login: { accountId: form.login } }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === 'confirm' && prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  return page(res, 405, 'Not allowed', '');
}

const handleProvider = provider.callback();
const server = https.createServer({ cert: beside(config.tls.cert), key: beside(config.tls.key) }, (req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((error) => {
      console.error('interaction failed:', error);
      page(res, 400, 'Interaction failed', `<p>${escapeHtml(error.message)}</p>`);
    });
  } else {
    handleProvider(req, res);
  }
});
provider.on('server_error', (ctx, error) => console.error('server_error:', error));
provider.on('grant.success', (ctx) => console.log(`token issued to ${ctx.oidc.client.clientId}`));
server.listen(config.port, () => console.log(`oidc-provider ${config.issuer} listening on ${config.port}`));
