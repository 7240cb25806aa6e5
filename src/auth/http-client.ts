/**
 * How OAuth requests reach the network: the caller's proxy- and certificate-aware fetch
 * (connect's HttpClient), so they take the same path as MCP traffic. A file of its own so that
 * login, discovery and the device flow share it without importing each other.
 */
export interface HttpClient {
  fetch(url: string | URL, init?: RequestInit): Promise<Response>;
}
