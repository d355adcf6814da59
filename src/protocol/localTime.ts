// How the explorer and the run panel print a run's ISO timestamps: local time to the minute.

/** `2026-12-07T14:08:30Z` -> `2026-12-07 15:08` in the local zone; unparsable text is returned as is. */
export function formatLocalTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}`;
}
