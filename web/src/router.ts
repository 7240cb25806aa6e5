import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'connectors' }
  | { page: 'add' }
  | { page: 'server'; name: string; query: URLSearchParams }
  | { page: 'edit'; name: string }
  | { page: 'activity'; query: URLSearchParams }
  | { page: 'not-found'; path: string };

/**
 * `#/`, `#/add`, `#/server/<name>` (`?tab=resources&resource=<uri>` opens at a resource),
 * `#/server/<name>/edit`, `#/activity?since=1d&server=x`.
 */
export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#/, '') || '/';
  const queryAt = raw.indexOf('?');
  const path = queryAt === -1 ? raw : raw.slice(0, queryAt);
  const query = new URLSearchParams(queryAt === -1 ? '' : raw.slice(queryAt + 1));
  if (path === '/' || path === '') return { page: 'connectors' };
  if (path === '/add') return { page: 'add' };
  if (path === '/activity') return { page: 'activity', query };
  const edit = /^\/server\/([^/]+)\/edit$/.exec(path);
  if (edit?.[1]) {
    try {
      return { page: 'edit', name: decodeURIComponent(edit[1]) };
    } catch {
      return { page: 'not-found', path };
    }
  }
  const server = /^\/server\/(.+)$/.exec(path);
  if (server?.[1]) {
    try {
      return { page: 'server', name: decodeURIComponent(server[1]), query };
    } catch {
      return { page: 'not-found', path };
    }
  }
  return { page: 'not-found', path };
}

export const href = {
  connectors: () => '#/',
  add: () => '#/add',
  server: (name: string, query?: Record<string, string>) => {
    const search = new URLSearchParams(query ?? {}).toString();
    return `#/server/${encodeURIComponent(name)}${search ? `?${search}` : ''}`;
  },
  edit: (name: string) => `#/server/${encodeURIComponent(name)}/edit`,
  activity: (query?: Record<string, string>) => {
    const search = new URLSearchParams(query ?? {}).toString();
    return search ? `#/activity?${search}` : '#/activity';
  },
};

export function navigate(target: string): void {
  location.hash = target;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseHash(location.hash));
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return route;
}
