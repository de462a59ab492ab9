/**
 * The dashboard's only way to make DOM: {@link h} builds elements whose text is always a text
 * node (never markup), so that a server named `<img src=x onerror=…>` shows as those characters.
 * No `innerHTML` anywhere in the dashboard; event handlers are functions, never attribute text.
 */

/** What an element may contain: nodes, or text (numbers too); nothing for null, undefined or false. */
export type Child = Node | string | number | null | undefined | false;

export interface Props {
  readonly class?: string;
  /** Attributes, set with setAttribute (never an `on…` one: those take code). */
  readonly attrs?: Readonly<Record<string, string | number | boolean | null | undefined>>;
  /** `data-*` attributes, by their camelCase name. */
  readonly data?: Readonly<Record<string, string>>;
  readonly on?: { readonly [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void };
}

/** Appends `children` to `parent`, text as text nodes. */
export function append(parent: Node, ...children: readonly (Child | readonly Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(
      typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child,
    );
  }
}

/** A new `tag` element with `props` and `children`. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: readonly (Child | readonly Child[])[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (props?.class) element.className = props.class;
  for (const [name, value] of Object.entries(props?.attrs ?? {})) {
    if (/^on/i.test(name)) throw new TypeError(`h(): ${name} would take code; pass a function in props.on`);
    if (value === null || value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const [name, value] of Object.entries(props?.data ?? {})) element.dataset[name] = value;
  for (const [type, listener] of Object.entries(props?.on ?? {})) {
    element.addEventListener(type, listener as EventListener);
  }
  append(element, ...children);
  return element;
}

/** Replaces what `parent` contains with `children`. */
export function replace(parent: Element, ...children: readonly (Child | readonly Child[])[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/**
 * A table: a header row (a string is a plain `th`, an element goes in as it is) and `rows`.
 * Given `empty`, that text in place of a table with no rows.
 */
export function table(
  head: readonly (string | HTMLElement)[],
  rows: readonly HTMLElement[],
  empty?: string,
): HTMLElement {
  if (rows.length === 0 && empty !== undefined) return h('p', { class: 'muted' }, empty);
  return h(
    'table',
    null,
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        head.map((cell) => (typeof cell === 'string' ? h('th', null, cell) : cell)),
      ),
    ),
    h('tbody', null, rows),
  );
}

/** A short local time for an ISO date (`14:03:07`), or the text itself if it is not one. */
export function clock(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleTimeString([], { hour12: false });
}
