// Database URLs carry passwords: nothing we print or log may repeat them.

/** `scheme://user:password@host` → `scheme://user:***@host`, wherever such a URL appears in `text`. */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]*):([^\s@/'"]*)@/gi;

/** The URL with its password replaced by ***; a text that is not a URL comes back redacted as text. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return redactCredentials(url);
  }
}

/**
 * `text` without the password of any URL in it, nor the passwords of the given URLs wherever they
 * appear on their own (decoded or percent-encoded), e.g. in an error that quotes a command line.
 */
export function redactCredentials(text: string, urls: readonly (string | undefined)[] = []): string {
  let out = text.replace(URL_PASSWORD, '$1:***@');
  for (const url of urls) {
    if (!url) continue;
    let password = '';
    try {
      password = new URL(url).password;
    } catch {
      continue;
    }
    if (!password) continue;
    let decoded = password;
    try {
      decoded = decodeURIComponent(password);
    } catch {
      // Keep the raw form.
    }
    for (const secret of new Set([password, decoded])) out = out.split(secret).join('***');
  }
  return out;
}
