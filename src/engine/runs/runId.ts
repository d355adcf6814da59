// Run ids: `YYYYMMDD-HHMMSS-<slug>` (UTC), so sorting ids sorts runs by start time.

/** Lower-case ASCII letters, digits and dashes; `run` when nothing is left. */
export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '') // combining accents left by NFKD: é -> e
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .replace(/-+$/g, '');
  return slug === '' ? 'run' : slug;
}

export function formatRunTimestamp(date: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(date.getUTCFullYear(), 4)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}-${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}`;
}

export function makeRunId(name: string, date: Date = new Date()): string {
  return `${formatRunTimestamp(date)}-${slugify(name)}`;
}

/** True for names that look like run ids (with an optional -2, -3 ... suffix). */
export function isRunId(name: string): boolean {
  return /^\d{8}-\d{6}-[a-z0-9-]+$/.test(name);
}
