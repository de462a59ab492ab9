/** The login form: a user name, a password and, optionally, the project to work in. */
import { h, replace } from './dom.js';
import { login, type Session } from './session.js';

/** Why the form is shown again: a session that ended (an error), or a logout. */
export interface Notice {
  readonly text: string;
  readonly kind: 'info' | 'error';
}

/** Draws the form into `root`, with `notice` above it; `done` once logged in. */
export function loginView(root: HTMLElement, notice: Notice | null, done: (session: Session) => void): void {
  const message = h('p', { class: 'message', attrs: { id: 'login-message', role: 'alert' } }, notice?.text);
  message.dataset.kind = notice?.kind ?? 'info';
  const user = h('input', { attrs: { name: 'user', autocomplete: 'username', required: true, autofocus: true } });
  const password = h('input', {
    attrs: { name: 'password', type: 'password', autocomplete: 'current-password', required: true },
  });
  const project = h('input', { attrs: { name: 'project', placeholder: 'your default project', autocomplete: 'off' } });
  const submit = h('button', { attrs: { type: 'submit' } }, 'log in');
  const form = h(
    'form',
    {
      class: 'login',
      attrs: { id: 'login-form' },
      on: {
        submit: (event) => {
          event.preventDefault();
          submit.disabled = true;
          message.textContent = 'logging in…';
          message.dataset.kind = 'info';
          login(user.value.trim(), password.value, project.value.trim()).then(done, (error: unknown) => {
            submit.disabled = false;
            message.textContent = error instanceof Error ? error.message : String(error);
            message.dataset.kind = 'error';
          });
        },
      },
    },
    h('h2', null, 'Log in'),
    message,
    h('label', null, 'user ', user),
    h('label', null, 'password ', password),
    h('label', null, 'project ', project),
    submit,
  );
  replace(root, form);
  user.focus();
}
