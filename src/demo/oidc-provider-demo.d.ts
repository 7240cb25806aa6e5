/**
 * What the demo's authorization server (oauth-server.ts) uses of `oidc-provider` beyond the shared
 * declaration (src/gateway/authorization-server/oidc-provider.d.ts): the models it reads, the
 * interaction policy it extends. Declarations of one module merge, so this only adds.
 */
declare module 'oidc-provider' {
  /** An access token as oidc-provider's AccessToken model finds it (unexpired only). */
  export interface AccessTokenEntity {
    clientId: string;
    accountId: string;
    scope?: string;
    aud?: string | string[];
    grantId?: string;
    /** Epoch seconds. */
    exp: number;
  }

  export interface ClientEntity {
    clientId: string;
    clientName?: string;
  }

  export interface KoaContextLike {
    method: string;
    path: string;
    query: Record<string, string | string[] | undefined>;
    body?: unknown;
  }

  /** One reason a prompt is shown; `check` answers true (REQUEST_PROMPT) to show it. */
  export class InteractionCheck {
    constructor(
      reason: string,
      description: string,
      check: (ctx: { oidc: { result?: { login?: unknown } } }) => boolean,
    );
    static readonly REQUEST_PROMPT: true;
    static readonly NO_NEED_TO_PROMPT: false;
  }

  export interface InteractionPromptPolicy {
    name: string;
    checks: { add(check: InteractionCheck): void };
  }

  export const interactionPolicy: {
    base(): InteractionPromptPolicy[] & { get(name: string): InteractionPromptPolicy | undefined };
    Check: typeof InteractionCheck;
  };

  // Provider is a class in the shared declaration; an interface of the same name adds members.
  export default interface Provider {
    readonly AccessToken: { find(value: string): Promise<AccessTokenEntity | undefined> };
    readonly Client: { find(id: string): Promise<ClientEntity | undefined> };
  }
}
