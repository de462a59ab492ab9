/**
 * The dashboard's entry: the login form until there is a session, then the views — the rack
 * (the cloud admin's, when this API has one: a cluster node's) and the project — as tabs
 * (`#rack`, `#project`). Logging out revokes the token; a token the API refuses brings the login
 * form back with a message.
 */
import { h, replace } from './dom.js';
import { loginView, type Notice } from './login-view.js';
import { projectView } from './project-view.js';
import { rackView } from './rack-view.js';
import { isCloudAdmin, loadSession, logout, type Session, whenExpired } from './session.js';

type Tab = 'rack' | 'project';

const app = document.getElementById('app') ?? document.body;

function showLogin(notice: Notice | null = null): void {
  document.body.dataset.view = 'login';
  loginView(app, notice, showApp);
}

function showApp(session: Session): void {
  let views = new AbortController();
  let rackAvailable = isCloudAdmin(session);
  const content = h('div', { class: 'content', attrs: { id: 'content' } });
  const tabs = h('nav', { class: 'tabs' });

  const open = (tab: Tab) => {
    views.abort();
    views = new AbortController();
    if (tab === 'rack' && !rackAvailable) tab = 'project';
    document.body.dataset.view = tab;
    replace(
      tabs,
      rackAvailable
        ? h('a', { attrs: { href: '#rack', 'aria-current': tab === 'rack' ? 'page' : null } }, 'Rack')
        : null,
      h('a', { attrs: { href: '#project', 'aria-current': tab === 'project' ? 'page' : null } }, 'Project'),
    );
    if (tab === 'rack') {
      rackView(content, session, views.signal, () => {
        // Not the cloud admin (403), or one machine with no rack (404): the project only.
        rackAvailable = false;
        open('project');
      });
    } else projectView(content, session, views.signal);
  };
  const fromHash = (): Tab =>
    location.hash === '#project' ? 'project' : location.hash === '#rack' ? 'rack' : rackAvailable ? 'rack' : 'project';

  const onHash = () => open(fromHash());
  window.addEventListener('hashchange', onHash);
  const leave = (notice: Notice) => {
    views.abort();
    window.removeEventListener('hashchange', onHash);
    showLogin(notice);
  };
  whenExpired((text) => leave({ text, kind: 'error' }));
  replace(
    app,
    h(
      'header',
      { class: 'bar' },
      h('h1', null, 'rackseed'),
      tabs,
      h('span', { class: 'who', attrs: { id: 'who' } }, `${session.user.name} · ${session.project.name}`),
      h(
        'button',
        {
          attrs: { type: 'button', id: 'logout' },
          on: {
            click: () => {
              void logout(session);
              leave({ text: 'You have logged out.', kind: 'info' });
            },
          },
        },
        'log out',
      ),
    ),
    content,
  );
  open(fromHash());
}

const session = loadSession();
if (session) showApp(session);
else showLogin();
