// The dev stack's OAuth 2.1 authorization server: npm `oidc-provider` (OpenID Certified, pinned in
// package.json) with this project's own sign-in and consent pages.
//
//   node local-oauth/server.mjs CONFIG.json
//
// CONFIG is written by scripts/stack/oauth.py (mode 0600): issuer, host, port, the MCP resource
// and its scopes, the signing keys, the cookie keys, the users (scrypt hashes), optional TLS and
// lifetimes. What it serves:
// - discovery (RFC 8414 and OpenID), JWKS, dynamic client registration (RFC 7591) and Client ID
//   Metadata Documents (the library's `clientIdMetadataDocument`, draft-02);
// - authorization code with PKCE (S256, required for every client), RFC 9207 `iss` on every
//   authorization response;
// - resource indicators (RFC 8707): one resource, the configured one; its access tokens are JWTs
//   (`typ: at+jwt`) with `aud` = the resource and `scope` = the granted scopes among the
//   configured ones; any other resource is `invalid_target`;
// - refresh tokens for `offline_access`, rotated on every use.
// Redirect URIs: native clients follow the library's rules (http only on loopback, https not on
// loopback, private-use schemes); web clients may use https, or http on loopback only.
// One log line per request: method, path (no query), status, time, the OAuth error code if any.

import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';

import Provider, { errors } from 'oidc-provider';

const LOOPBACKS = new Set(['localhost', '127.0.0.1', '[::1]']);
const USERNAME = /^[A-Za-z0-9._@-]{1,64}$/;
const MAX_FORM_BYTES = 8 * 1024;
const MAX_PASSWORD_CHARS = 1024;
// Lifetimes in seconds; `ttl` in the config overrides them by these names.
const TTL_DEFAULTS = {
  access_token: 15 * 60,
  authorization_code: 60,
  id_token: 15 * 60,
  refresh_token: 24 * 60 * 60,
  interaction: 10 * 60,
  session: 8 * 60 * 60,
  grant: 14 * 24 * 60 * 60,
};
const TTL_NAMES = {
  access_token: 'AccessToken',
  authorization_code: 'AuthorizationCode',
  id_token: 'IdToken',
  refresh_token: 'RefreshToken',
  interaction: 'Interaction',
  session: 'Session',
  grant: 'Grant',
};
const CONFIG_KEYS = new Set(['issuer', 'host', 'port', 'resource', 'scopes', 'jwks', 'cookie_keys',
  'users', 'tls', 'ttl']);

class ConfigError extends Error {}

function fail(message) {
  throw new ConfigError(message);
}

// ---------------------------------------------------------------------------------------------
// Configuration: read once, checked field by field, turned into what the server uses.

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function httpUrl(value, field) {
  if (typeof value !== 'string') fail(`${field} must be a string`);
  const url = URL.parse(value);
  if (!url || !['http:', 'https:'].includes(url.protocol)) fail(`${field} must be an http(s) URL`);
  if (url.search || url.hash || value.includes('#')) fail(`${field} must have no query or fragment`);
  if (url.username || url.password) fail(`${field} must have no credentials`);
  return url;
}

function positiveInteger(value, field, max = Number.MAX_SAFE_INTEGER) {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    fail(`${field} must be an integer from 1 to ${max}`);
  }
  return value;
}

function base64(value, field) {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) {
    fail(`${field} must be standard base64`);
  }
  return Buffer.from(value, 'base64');
}

function parseUser(user, index) {
  const field = `users[${index}]`;
  if (!isObject(user)) fail(`${field} must be an object`);
  const { username, password } = user;
  if (typeof username !== 'string' || !USERNAME.test(username)) {
    fail(`${field}.username must be 1-64 of A-Z a-z 0-9 . _ @ -`);
  }
  const scrypt = isObject(password) ? password.scrypt : undefined;
  if (!isObject(scrypt)) fail(`${field}.password must be {"scrypt": {salt, n, r, p, hash}}`);
  const n = positiveInteger(scrypt.n, `${field}.password.scrypt.n`, 2 ** 20);
  if ((n & (n - 1)) !== 0 || n < 2 ** 14) fail(`${field}.password.scrypt.n must be a power of 2, at least 2^14`);
  const r = positiveInteger(scrypt.r, `${field}.password.scrypt.r`, 32);
  const p = positiveInteger(scrypt.p, `${field}.password.scrypt.p`, 16);
  const salt = base64(scrypt.salt, `${field}.password.scrypt.salt`);
  const hash = base64(scrypt.hash, `${field}.password.scrypt.hash`);
  if (salt.length < 16) fail(`${field}.password.scrypt.salt must be at least 16 bytes`);
  if (hash.length < 32 || hash.length > 64) fail(`${field}.password.scrypt.hash must be 32 to 64 bytes`);
  return { username, scrypt: { n, r, p, salt, hash } };
}

function parseJwks(jwks) {
  if (!isObject(jwks) || !Array.isArray(jwks.keys) || jwks.keys.length === 0) {
    fail('jwks must be {"keys": [at least one private signing JWK]}');
  }
  const kids = new Set();
  jwks.keys.forEach((key, index) => {
    const field = `jwks.keys[${index}]`;
    if (!isObject(key)) fail(`${field} must be an object`);
    if (!['RSA', 'EC'].includes(key.kty)) fail(`${field}.kty must be RSA or EC`);
    if (typeof key.d !== 'string') fail(`${field} must be a private key (no "d")`);
    if (typeof key.kid !== 'string' || !key.kid) fail(`${field}.kid must be a non-empty string`);
    if (typeof key.alg !== 'string' || !key.alg) fail(`${field}.alg must be a non-empty string`);
    if (kids.has(key.kid)) fail(`${field}.kid repeats another key's kid`);
    kids.add(key.kid);
    try {
      crypto.createPrivateKey({ key, format: 'jwk' });
    } catch {
      fail(`${field} is not a usable private key`);
    }
  });
  return { keys: jwks.keys };
}

function parseTtl(ttl) {
  if (ttl === undefined) return { ...TTL_DEFAULTS };
  if (!isObject(ttl)) fail('ttl must be an object');
  for (const name of Object.keys(ttl)) {
    if (!(name in TTL_DEFAULTS)) fail(`ttl.${name} is not one of ${Object.keys(TTL_DEFAULTS).join(', ')}`);
    positiveInteger(ttl[name], `ttl.${name}`, 366 * 24 * 60 * 60);
  }
  return { ...TTL_DEFAULTS, ...ttl };
}

function parseTls(tls, issuer) {
  if (tls === undefined || tls === null) {
    if (issuer.protocol !== 'http:') fail('issuer must be http:// without tls (or give tls)');
    return undefined;
  }
  if (!isObject(tls) || typeof tls.cert !== 'string' || typeof tls.key !== 'string') {
    fail('tls must be {"cert": path, "key": path}');
  }
  if (issuer.protocol !== 'https:') fail('issuer must be https:// when tls is given');
  try {
    return { cert: readFileSync(tls.cert), key: readFileSync(tls.key) };
  } catch (error) {
    fail(`tls files unreadable: ${error.code ?? error.message}`);
  }
}

function parseConfig(raw) {
  if (!isObject(raw)) fail('the config must be a JSON object');
  for (const key of Object.keys(raw)) {
    if (!CONFIG_KEYS.has(key)) fail(`unknown field ${key}`);
  }
  const issuer = httpUrl(raw.issuer, 'issuer');
  if (raw.issuer.endsWith('/')) fail('issuer must not end with "/" (it must equal the resource metadata\'s entry)');
  if (typeof raw.host !== 'string' || !raw.host) fail('host must be a non-empty string');
  const port = positiveInteger(raw.port, 'port', 65535);
  httpUrl(raw.resource, 'resource');
  if (!Array.isArray(raw.scopes) || raw.scopes.length === 0
      || !raw.scopes.every((s) => typeof s === 'string' && /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(s))) {
    fail('scopes must be a non-empty list of scope tokens');
  }
  if (raw.scopes.some((s) => ['openid', 'offline_access'].includes(s))) {
    fail('scopes are the resource\'s; openid and offline_access are the server\'s own');
  }
  if (!Array.isArray(raw.cookie_keys) || raw.cookie_keys.length === 0
      || !raw.cookie_keys.every((k) => typeof k === 'string' && k.length >= 32)) {
    fail('cookie_keys must be a non-empty list of strings of at least 32 characters');
  }
  if (!Array.isArray(raw.users) || raw.users.length === 0) fail('users must be a non-empty list');
  const users = new Map();
  raw.users.forEach((user, index) => {
    const parsed = parseUser(user, index);
    if (users.has(parsed.username)) fail(`users[${index}].username repeats another user`);
    users.set(parsed.username, parsed.scrypt);
  });
  return {
    issuer: raw.issuer,
    host: raw.host,
    port,
    resource: raw.resource,
    scopes: [...new Set(raw.scopes)],
    jwks: parseJwks(raw.jwks),
    cookieKeys: raw.cookie_keys,
    users,
    tls: parseTls(raw.tls, issuer),
    ttl: parseTtl(raw.ttl),
  };
}

// ---------------------------------------------------------------------------------------------
// Passwords: scrypt, compared in constant time; an unknown user costs the same as a known one.

function scrypt(password, { n, r, p, salt, hash }) {
  return new Promise((resolve, reject) => {
    crypto.scrypt(password, salt, hash.length, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 },
      (error, key) => (error ? reject(error) : resolve(key)));
  });
}

function decoy(users) {
  const first = users.values().next().value;
  return { ...first, salt: crypto.randomBytes(first.salt.length), hash: crypto.randomBytes(first.hash.length) };
}

// Each check holds 32 MiB for a moment: a few at a time, the others wait their turn, so a flood
// of sign-in attempts queues instead of exhausting memory.
const SCRYPT_AT_ONCE = 4;
let scryptRunning = 0;
const scryptWaiting = [];

async function limited(work) {
  if (scryptRunning >= SCRYPT_AT_ONCE) await new Promise((resolve) => scryptWaiting.push(resolve));
  scryptRunning += 1;
  try {
    return await work();
  } finally {
    scryptRunning -= 1;
    scryptWaiting.shift()?.();
  }
}

async function checkPassword(users, fallback, username, password) {
  const stored = users.get(username);
  const derived = await limited(() => scrypt(password, stored ?? fallback));
  const match = crypto.timingSafeEqual(derived, (stored ?? fallback).hash);
  return match && stored !== undefined;
}

// ---------------------------------------------------------------------------------------------
// Pages: escaped, no secrets, not cached, not framed.

function escape(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.3rem}label{display:block;margin:.8rem 0 .2rem}input[type=text],input[type=password]{width:100%;padding:.4rem;box-sizing:border-box}
button{margin:1rem .5rem 0 0;padding:.45rem 1.1rem}.error{color:#a40000;font-weight:600}code{word-break:break-all}ul{padding-left:1.2rem}`;

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escape(title)}</title><style>${STYLE}</style></head>
<body><h1>${escape(title)}</h1>
${body}
</body></html>`;
}

function sendHtml(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'");
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.end(html);
}

function clientLabel(client) {
  return client?.clientName ? `${client.clientName} (${client.clientId})` : (client?.clientId ?? 'an application');
}

function loginPage(uid, client, { username = '', error = false } = {}) {
  const message = error ? '<p class="error" role="alert">Sign-in failed: the username or password is wrong.</p>' : '';
  return page('Sign in', `<p><strong>${escape(clientLabel(client))}</strong> asks to use the Vault MCP Bridge for you.</p>
${message}
<form method="post" action="/interaction/${escape(uid)}/login" autocomplete="off">
<label for="username">Username</label><input type="text" id="username" name="username" value="${escape(username)}" required autofocus>
<label for="password">Password</label><input type="password" id="password" name="password" required>
<button type="submit" id="sign-in">Sign in</button>
</form>`);
}

function consentPage(uid, client, accountId, details, params) {
  const resources = Object.entries(details.missingResourceScopes ?? {});
  const items = resources.map(([resource, scopes]) => `<li>on <code>${escape(resource)}</code>: ${scopes.map((s) => `<code>${escape(s)}</code>`).join(' ')}</li>`);
  const oidc = details.missingOIDCScope ?? [];
  if (oidc.includes('offline_access')) items.push('<li>stay signed in (a refresh token)</li>');
  if (oidc.includes('openid')) items.push('<li>your username</li>');
  const list = items.length ? `<ul>${items.join('\n')}</ul>` : '<p>No new permissions.</p>';
  return page('Allow access?', `<p>Signed in as <strong>${escape(accountId)}</strong>.</p>
<p><strong>${escape(clientLabel(client))}</strong>, redirecting to <code>${escape(params.redirect_uri)}</code>, asks for:</p>
${list}
<form method="post" action="/interaction/${escape(uid)}/confirm"><button type="submit" id="allow">Allow</button></form>
<form method="post" action="/interaction/${escape(uid)}/abort"><button type="submit" id="deny">Deny</button></form>`);
}

// ---------------------------------------------------------------------------------------------
// The provider.

function webRedirectUris(ctx, key, value, metadata) {
  // Web clients: https anywhere, http only on loopback. Native clients get the library's own
  // checks (http on loopback, https not on loopback, private-use schemes).
  if (key !== 'redirect_uris' || !Array.isArray(value) || metadata.application_type === 'native') return;
  for (const uri of value) {
    const url = typeof uri === 'string' ? URL.parse(uri) : null;
    if (url?.protocol === 'http:' && !LOOPBACKS.has(url.hostname)) {
      throw new errors.InvalidClientMetadata('redirect_uris using http must be on a loopback address (localhost, 127.0.0.1, [::1]); use https elsewhere');
    }
  }
}

function createProvider(settings) {
  const { users, ttl, resource, scopes } = settings;
  const alg = settings.jwks.keys[0].alg;
  const seconds = (name) => () => ttl[name];

  const provider = new Provider(settings.issuer, {
    jwks: settings.jwks,
    cookies: { keys: settings.cookieKeys },
    findAccount: (ctx, sub) => (users.has(sub)
      ? { accountId: sub, claims: () => ({ sub }) }
      : undefined),
    // The resource's scopes too: clients (the MCP SDK) register with the scopes they will ask
    // for, and registration refuses any the server does not list.
    scopes: ['openid', 'offline_access', ...scopes],
    claims: { openid: ['sub'] },
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      id_token_signed_response_alg: alg,
    },
    extraClientMetadata: { properties: ['redirect_uris'], validator: webRedirectUris },
    // Browser-based public clients (MCP Inspector's page) call the token endpoint from their
    // own origin.
    clientBasedCORS: (ctx, origin, client) => client.clientAuthMethod === 'none' && origin !== 'null',
    rotateRefreshToken: true,
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: Object.fromEntries(Object.entries(TTL_NAMES).map(([name, model]) => [model, seconds(name)])),
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true, initialAccessToken: false, issueRegistrationAccessToken: false },
      clientIdMetadataDocument: { enabled: true, ack: 'draft-02' },
      userinfo: { enabled: false },
      // Clients can end a refresh token they hold (RFC 7009).
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: (ctx, client, oneOf) => oneOf ?? resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator) => {
          if (indicator !== resource) throw new errors.InvalidTarget();
          return {
            scope: scopes.join(' '),
            audience: resource,
            accessTokenFormat: 'jwt',
            accessTokenTTL: ttl.access_token,
            jwt: { sign: { alg } },
          };
        },
      },
    },
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = page('Sign-in error', `<p class="error">${escape(out.error)}</p><p>${escape(out.error_description)}</p>`);
    },
  });

  // The OAuth error of a request goes on its log line (code and description, never a token).
  const noteError = (ctx, error) => {
    if (ctx?.req) ctx.req.oauthError = error.error ?? error.name;
  };
  for (const event of ['authorization.error', 'grant.error', 'registration_create.error',
    'discovery.error', 'jwks.error', 'interaction.error']) {
    provider.on(event, noteError);
  }
  provider.on('server_error', (ctx, error) => {
    noteError(ctx, { error: 'server_error' });
    console.error(`server_error ${error.name}: ${error.message}`);
  });
  return provider;
}

// ---------------------------------------------------------------------------------------------
// Interaction routes: GET /interaction/:uid, POST .../login, .../confirm, .../abort.

function readForm(req) {
  return new Promise((resolve, reject) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim();
    if (type !== 'application/x-www-form-urlencoded') {
      reject(Object.assign(new Error('expected a form'), { status: 415 }));
      return;
    }
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_FORM_BYTES) {
        reject(Object.assign(new Error('form too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

function interactionHandler(provider, settings) {
  const fallback = decoy(settings.users);

  return async function handle(req, res, path) {
    const match = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/.exec(path);
    if (!match) {
      sendHtml(res, 404, page('Not found', '<p>No such page.</p>'));
      return;
    }
    const [, uid, action] = match;
    if ((action === undefined) !== (req.method === 'GET')) {
      res.setHeader('Allow', action ? 'POST' : 'GET');
      sendHtml(res, 405, page('Not allowed', '<p>Method not allowed.</p>'));
      return;
    }

    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      req.oauthError = 'interaction_not_found';
      sendHtml(res, 400, page('Sign-in expired', '<p>This sign-in has expired or was not started here. Go back to the application and start again.</p>'));
      return;
    }
    if (details.uid !== uid) {
      sendHtml(res, 400, page('Sign-in expired', '<p>This sign-in does not match the one in progress. Start again from the application.</p>'));
      return;
    }
    const client = await provider.Client.find(details.params.client_id);
    const { prompt } = details;

    if (action === undefined) {
      if (prompt.name === 'login') {
        sendHtml(res, 200, loginPage(uid, client));
      } else {
        sendHtml(res, 200, consentPage(uid, client, details.session?.accountId, prompt.details, details.params));
      }
      return;
    }

    const form = await readForm(req);
    if (action === 'abort') {
      await provider.interactionFinished(req, res, {
        error: 'access_denied', error_description: 'the user denied the request',
      }, { mergeWithLastSubmission: false });
      return;
    }

    if (action === 'login') {
      if (prompt.name !== 'login') {
        sendHtml(res, 400, page('Already signed in', '<p>Go back to the application and start again.</p>'));
        return;
      }
      const username = form.get('username') ?? '';
      const password = form.get('password') ?? '';
      const ok = username.length <= 64 && password.length > 0 && password.length <= MAX_PASSWORD_CHARS
        && await checkPassword(settings.users, fallback, username, password);
      if (!ok) {
        req.oauthError = 'login_failed';
        sendHtml(res, 200, loginPage(uid, client, { username, error: true }));
        return;
      }
      await provider.interactionFinished(req, res, {
        login: { accountId: username, amr: ['pwd'] },
      }, { mergeWithLastSubmission: false });
      return;
    }

    // confirm: grant what the library found missing; resource scopes are already limited to
    // the configured ones (getResourceServerInfo).
    if (prompt.name !== 'consent') {
      sendHtml(res, 400, page('Not signed in', '<p>Go back to the application and start again.</p>'));
      return;
    }
    const { accountId } = details.session;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: details.params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, granted] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, granted.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, {
      consent: details.grantId ? {} : { grantId },
    }, { mergeWithLastSubmission: true });
  };
}

// ---------------------------------------------------------------------------------------------
// The server.

function log(line) {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

function createServer(settings) {
  const provider = createProvider(settings);
  const oidc = provider.callback();
  const interactions = interactionHandler(provider, settings);

  const handler = (req, res) => {
    const started = process.hrtime.bigint();
    const path = (req.url ?? '/').split('?')[0];
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const error = req.oauthError ? ` error=${req.oauthError}` : '';
      log(`${req.method} ${path} ${res.statusCode} ${ms.toFixed(1)}ms${error}`);
    });
    if (path === '/interaction' || path.startsWith('/interaction/')) {
      interactions(req, res, path).catch((error) => {
        req.oauthError = error.status ? 'bad_form' : 'server_error';
        if (!error.status) console.error(`interaction error ${error.name}: ${error.message}`);
        if (!res.headersSent) {
          sendHtml(res, error.status ?? 500, page('Error', '<p>The request could not be handled.</p>'));
        }
      });
      return;
    }
    oidc(req, res);
  };

  const server = settings.tls ? https.createServer(settings.tls, handler) : http.createServer(handler);
  return { provider, server };
}

function main(argv) {
  if (argv.length !== 1) {
    console.error('usage: node local-oauth/server.mjs CONFIG.json');
    process.exit(2);
  }
  let settings;
  try {
    let raw;
    try {
      raw = JSON.parse(readFileSync(argv[0], 'utf8'));
    } catch (error) {
      fail(error instanceof SyntaxError ? `not JSON: ${error.message}` : `unreadable: ${error.code ?? error.message}`);
    }
    settings = parseConfig(raw);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`local-oauth: bad config ${argv[0]}: ${error.message}`);
    process.exit(2);
  }

  let server;
  try {
    ({ server } = createServer(settings));
  } catch (error) {
    console.error(`local-oauth: the provider refused the config ${argv[0]}: ${error.message}`);
    process.exit(2);
  }
  server.on('error', (error) => {
    console.error(`local-oauth: cannot serve on ${settings.host}:${settings.port}: ${error.code ?? error.message}`);
    process.exit(1);
  });
  server.listen(settings.port, settings.host, () => {
    log(`local-oauth: issuer ${settings.issuer} on ${settings.tls ? 'https' : 'http'}://${settings.host}:${settings.port}, resource ${settings.resource}, ${settings.users.size} user(s)`);
  });
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      server.close();
      process.exit(0);
    });
  }
}

main(process.argv.slice(2));
