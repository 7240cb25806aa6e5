import { useEffect, useRef, useState } from 'preact/hooks';
import { api, onSessionExpired } from './api';
import { useLoad } from './lib/use-load';
import { ActivityPage } from './pages/activity';
import { AddPage } from './pages/add';
import { ConnectorsPage } from './pages/connectors';
import { DetailPage } from './pages/detail';
import { RichText } from './components/rich-text';
import { EditPage } from './pages/edit';
import { href, navigate, useRoute, type Route } from './router';

const TITLES: Record<Route['page'], string> = {
  connectors: 'Connectors',
  add: 'Add custom connector',
  server: 'Connector',
  edit: 'Edit connector',
  activity: 'Activity',
  'not-found': 'Not found',
};

export function App() {
  const route = useRoute();
  const [expired, setExpired] = useState<string | null>(null);
  // A notice belongs to the page it was made for (`for`: its route key); elsewhere it is not shown.
  const [noticeFor, setNoticeFor] = useState<{ text: string; for: string } | null>(null);
  const session = useLoad(() => api.session(), 'session');
  const main = useRef<HTMLElement>(null);
  const firstRender = useRef(true);

  useEffect(() => onSessionExpired(setExpired), []);

  // A page change moves focus to the new page, as a full navigation would, and names it.
  const routeKey =
    route.page === 'server' || route.page === 'edit' ? `${route.page}:${route.name}` : route.page;
  const notice = noticeFor?.for === routeKey ? noticeFor.text : null;
  const setNotice = (text: string | null, page: string = routeKey) =>
    setNoticeFor(text === null ? null : { text, for: page });
  useEffect(() => {
    document.title = `${route.page === 'server' ? route.name : route.page === 'edit' ? `Edit ${route.name}` : TITLES[route.page]} · patchbay`;
    // Leaving the page a notice was for ends it.
    setNoticeFor((current) => (current && current.for !== routeKey ? null : current));
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    main.current?.focus();
    scrollTo(0, 0);
  }, [routeKey]);

  const current = (page: Route['page']) => (route.page === page ? 'page' : undefined);

  return (
    <>
      <a
        class="skip-link"
        href="#main"
        onClick={(event) => {
          event.preventDefault();
          main.current?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="topbar">
        <div class="topbar-inner">
          <a class="brand" href={href.connectors()}>
            <span class="brand-mark" aria-hidden="true" />
            patchbay
          </a>
          <nav aria-label="Console">
            <ul class="nav">
              <li>
                <a
                  href={href.connectors()}
                  aria-current={
                    current('connectors') ?? current('server') ?? current('edit') ?? current('add')
                  }
                  data-testid="nav-connectors"
                >
                  Connectors
                </a>
              </li>
              <li>
                <a href={href.activity()} aria-current={current('activity')} data-testid="nav-activity">
                  Activity
                </a>
              </li>
            </ul>
          </nav>
        </div>
      </header>

      {expired ? (
        <div class="banner" role="alert" data-testid="session-expired">
          <RichText text={expired} />
        </div>
      ) : null}

      <main id="main" ref={main} tabIndex={-1}>
        {route.page === 'connectors' ? (
          <ConnectorsPage notice={notice} onDismissNotice={() => setNotice(null)} />
        ) : null}
        {route.page === 'add' ? (
          <AddPage
            onAdded={(name) => {
              setNotice(`Added ${name}.`, 'connectors');
              navigate(href.connectors());
            }}
          />
        ) : null}
        {route.page === 'server' ? (
          <DetailPage key={route.name} name={route.name} query={route.query} notice={notice} />
        ) : null}
        {route.page === 'edit' ? (
          <EditPage
            key={route.name}
            name={route.name}
            onSaved={(message) => {
              setNotice(message, `server:${route.name}`);
              navigate(href.server(route.name));
            }}
          />
        ) : null}
        {route.page === 'activity' ? <ActivityPage query={route.query} /> : null}
        {route.page === 'not-found' ? (
          <div class="page">
            <h1>Not found</h1>
            <p>
              Nothing lives at <span class="mono">{route.path}</span>.{' '}
              <a href={href.connectors()}>Back to Connectors</a>
            </p>
          </div>
        ) : null}
      </main>

      <footer class="footer">
        {session.data ? (
          <p>
            patchbay {session.data.version} · project{' '}
            <span class="mono break">{session.data.projectRoot}</span>
          </p>
        ) : null}
      </footer>
    </>
  );
}
