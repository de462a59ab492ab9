/**
 * The per-MAC iPXE script (ipxe.org/scripting). Pure: renders text from the node's boot
 * parameters; the HTTP layer serves it.
 */

/** What one node boots. */
export interface BootSpec {
  /** Base URL of the file server, e.g. `http://10.0.0.1:8080/files`. */
  filesUrl: string;
  kernel: string;
  initrd: string;
  /** Extra kernel command line (console, quiet…). */
  cmdline: string;
  mac: string;
  /** The node's enrollment token: passed to the image's agent as `rackseed.token=`. */
  token: string;
}

/** Characters allowed in a token or MAC on the kernel command line (no spaces, quotes or iPXE `${`). */
const SAFE = /^[A-Za-z0-9._~:-]+$/;

/** True when `value` can go on the kernel command line as is. */
export function isCmdlineSafe(value: string): boolean {
  return SAFE.test(value);
}

/** Renders the script. `initrd=` is named on the command line so that UEFI (EFI stub) kernels find it. */
export function renderIpxeScript(spec: BootSpec): string {
  const args = [`initrd=${spec.initrd}`, spec.cmdline, `rackseed.mac=${spec.mac}`, `rackseed.token=${spec.token}`]
    .filter((a) => a !== '')
    .join(' ');
  return [
    '#!ipxe',
    `echo rackseed: booting ${spec.mac}`,
    `kernel ${spec.filesUrl}/${spec.kernel} ${args}`,
    `initrd ${spec.filesUrl}/${spec.initrd}`,
    'boot',
    '',
  ].join('\n');
}

/** Parses an HTTP `Range` header against a file size (RFC 9110 §14.1.2; one range only). */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'none' | 'invalid' {
  if (header === undefined) return 'none';
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'invalid';
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]); // bytes=-N: the last N bytes
    if (suffix === 0) return 'invalid';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return start > end || start >= size ? 'invalid' : { start, end };
}
