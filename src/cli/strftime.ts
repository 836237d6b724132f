/**
 * The strftime(3) conversions of the C locale, for `culex sub -F` `@X` sequences and timestamps: local time, as
 * mosquitto_sub prints it.
 */
const days = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const months = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October',
  'November', 'December'];

function pad(n: number, width: number, fill = '0'): string {
  return String(n).padStart(width, fill);
}

function dayOfYear(date: Date): number {
  const start = new Date(date.getFullYear(), 0, 1);
  return Math.round((new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime() - start.getTime()) / 86_400_000) + 1;
}

/** `+hhmm` / `-hhmm` offset from UTC. */
export function utcOffset(date: Date): string {
  const minutes = -date.getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60), 2)}${pad(abs % 60, 2)}`;
}

function zoneName(date: Date): string {
  const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(date).find((p) => p.type === 'timeZoneName');
  return part?.value ?? '';
}

/** One conversion (the character after `%`); an unknown one yields nothing. */
export function strftimeOne(spec: string, date: Date): string {
  const hours = date.getHours();
  switch (spec) {
    case 'a': return days[date.getDay()]!.slice(0, 3);
    case 'A': return days[date.getDay()]!;
    case 'b':
    case 'h': return months[date.getMonth()]!.slice(0, 3);
    case 'B': return months[date.getMonth()]!;
    case 'c': return `${strftimeOne('a', date)} ${strftimeOne('b', date)} ${strftimeOne('e', date)} ${strftimeOne('T', date)} ${date.getFullYear()}`;
    case 'C': return pad(Math.floor(date.getFullYear() / 100), 2);
    case 'd': return pad(date.getDate(), 2);
    case 'D':
    case 'x': return `${pad(date.getMonth() + 1, 2)}/${pad(date.getDate(), 2)}/${pad(date.getFullYear() % 100, 2)}`;
    case 'e': return pad(date.getDate(), 2, ' ');
    case 'F': return `${date.getFullYear()}-${pad(date.getMonth() + 1, 2)}-${pad(date.getDate(), 2)}`;
    case 'H': return pad(hours, 2);
    case 'I': return pad(hours % 12 || 12, 2);
    case 'j': return pad(dayOfYear(date), 3);
    case 'k': return pad(hours, 2, ' ');
    case 'l': return pad(hours % 12 || 12, 2, ' ');
    case 'm': return pad(date.getMonth() + 1, 2);
    case 'M': return pad(date.getMinutes(), 2);
    case 'n': return '\n';
    case 'p': return hours < 12 ? 'AM' : 'PM';
    case 'P': return hours < 12 ? 'am' : 'pm';
    case 'r': return `${strftimeOne('I', date)}:${pad(date.getMinutes(), 2)}:${pad(date.getSeconds(), 2)} ${strftimeOne('p', date)}`;
    case 'R': return `${pad(hours, 2)}:${pad(date.getMinutes(), 2)}`;
    case 's': return String(Math.floor(date.getTime() / 1000));
    case 'S': return pad(date.getSeconds(), 2);
    case 't': return '\t';
    case 'T':
    case 'X': return `${pad(hours, 2)}:${pad(date.getMinutes(), 2)}:${pad(date.getSeconds(), 2)}`;
    case 'u': return String(date.getDay() || 7);
    case 'w': return String(date.getDay());
    case 'y': return pad(date.getFullYear() % 100, 2);
    case 'Y': return String(date.getFullYear());
    case 'z': return utcOffset(date);
    case 'Z': return zoneName(date);
    case '%': return '%';
    default: return '';
  }
}
