/** The pure decisions of a login without a browser (auth/machine-grant.ts): which grant, which client authentication, which key. */

import { createPrivateKey, generateKeyPairSync } from 'node:crypto';

import type { AuthorizationServerMetadata } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';

import {
  chooseClientAuthMethod,
  configuredMachineGrant,
  grantForLogin,
  isStoredClientKey,
  parseClientKey,
  storedClientKey,
} from '../../src/auth/machine-grant.js';
import { PatchbayError } from '../../src/errors.js';

function metadata(overrides: Partial<AuthorizationServerMetadata> = {}): AuthorizationServerMetadata {
  return {
    issuer: 'https://as.example.com',
    authorization_endpoint: 'https://as.example.com/authorize',
    token_endpoint: 'https://as.example.com/token',
    response_types_supported: ['code'],
    ...overrides,
  } as AuthorizationServerMetadata;
}

const ecPem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .privateKey.export({ format: 'pem', type: 'pkcs8' })
  .toString();

describe('which grant a login makes', () => {
  it('the configured one; cross-app access when an IdP is set; else a browser', () => {
    expect(configuredMachineGrant({ grant: 'client_credentials' })).toBe('client_credentials');
    expect(configuredMachineGrant({ idpIssuer: 'https://idp.example.com' })).toBe('cross_app_access');
    expect(configuredMachineGrant({ grant: 'authorization_code', idpIssuer: 'https://idp' })).toBeUndefined();
    expect(configuredMachineGrant({ clientId: 'x' })).toBeUndefined();
    expect(configuredMachineGrant(undefined)).toBeUndefined();
  });

  it('client credentials unasked only where the server offers machine clients nothing else', () => {
    const machinesOnly = metadata({ grant_types_supported: ['client_credentials'] });
    const both = metadata({ grant_types_supported: ['authorization_code', 'client_credentials'] });
    expect(grantForLogin({ clientId: 'x' }, true, machinesOnly)).toBe('client_credentials');
    // A person's pre-registered confidential client: the browser, as before.
    expect(grantForLogin({ clientId: 'x' }, true, both)).toBeUndefined();
    expect(grantForLogin({ clientId: 'x' }, false, machinesOnly)).toBeUndefined();
    expect(grantForLogin(undefined, true, machinesOnly)).toBeUndefined();
    expect(grantForLogin({ clientId: 'x', grant: 'authorization_code' }, true, machinesOnly)).toBeUndefined();
    expect(grantForLogin({ clientId: 'x', grant: 'client_credentials' }, true, both)).toBe(
      'client_credentials',
    );
  });
});

describe('chooseClientAuthMethod', () => {
  const key = storedClientKey(parseClientKey(ecPem, 'key.pem'));

  it('from the metadata: a secret goes basic, then post; a key goes private_key_jwt', () => {
    expect(chooseClientAuthMethod(undefined, 's', metadata(), 'a')).toBe('client_secret_basic');
    expect(
      chooseClientAuthMethod(
        undefined,
        's',
        metadata({ token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt'] }),
        'a',
      ),
    ).toBe('client_secret_post');
    expect(
      chooseClientAuthMethod(
        undefined,
        key,
        metadata({ token_endpoint_auth_methods_supported: ['client_secret_basic', 'private_key_jwt'] }),
        'a',
      ),
    ).toBe('private_key_jwt');
    expect(chooseClientAuthMethod(undefined, key, metadata(), 'a')).toBe('private_key_jwt');
  });

  it('the configured method wins, if the stored credential can do it', () => {
    expect(chooseClientAuthMethod('client_secret_post', 's', metadata(), 'a')).toBe('client_secret_post');
    expect(() => chooseClientAuthMethod('private_key_jwt', 's', metadata(), 'a')).toThrow(
      /holds a client secret/,
    );
  });

  it('a server that takes none of what patchbay holds: refused, saying what it takes and what to do', () => {
    try {
      chooseClientAuthMethod(
        undefined,
        's',
        metadata({ token_endpoint_auth_methods_supported: ['private_key_jwt'] }),
        'a',
      );
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PatchbayError);
      expect((error as PatchbayError).code).toBe('auth-refused');
      expect((error as PatchbayError).message).toContain('accepts client authentication by private_key_jwt');
      expect((error as PatchbayError).hint).toContain('--client-key');
    }
  });
});

describe('parseClientKey', () => {
  it('PEM and JWK, EC, RSA and Ed25519, each with its algorithm; stored as a marked JWK', () => {
    const ec = parseClientKey(ecPem, 'ec.pem');
    expect(ec.alg).toBe('ES256');
    expect(ec.jwk).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(ec.jwk.d).toBeDefined();
    const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    expect(parseClientKey(rsaKey.export({ format: 'pem', type: 'pkcs1' }).toString(), 'rsa.pem').alg).toBe(
      'RS256',
    );
    const jwk = { ...rsaKey.export({ format: 'jwk' }), alg: 'PS256' };
    expect(parseClientKey(JSON.stringify(jwk), 'rsa.jwk').alg).toBe('PS256');
    const ed = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(parseClientKey(ed, 'ed.pem').alg).toBe('EdDSA');
    const stored = storedClientKey(ec);
    expect(isStoredClientKey(stored)).toBe(true);
    expect(isStoredClientKey('a-client-secret')).toBe(false);
    expect(createPrivateKey({ key: ec.jwk, format: 'jwk' }).asymmetricKeyType).toBe('ec');
  });

  it('refuses a public key, garbage, and an algorithm the key cannot sign with', () => {
    expect(() => parseClientKey('hello', 'x.pem')).toThrow(/is not an unencrypted private key/);
    const pub = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ format: 'pem', type: 'spki' })
      .toString();
    expect(() => parseClientKey(pub, 'pub.pem')).toThrow(/is not an unencrypted private key/);
    const jwk = { ...createPrivateKey(ecPem).export({ format: 'jwk' }), alg: 'RS256' };
    expect(() => parseClientKey(JSON.stringify(jwk), 'ec.jwk')).toThrow(/cannot sign with/);
  });
});
