// Where Alertmanager sends notifications: the `alerts.receivers` list of the deployment
// configuration. Each entry is one integration Alertmanager supports natively (e-mail over SMTP,
// a generic webhook, Slack, Discord, Telegram). Credentials are never written in the
// configuration: each is the path of a file of yours (outside git), read and checked while the
// configuration is validated, like the certbot DNS credentials. Their contents end up only in the
// rendered alertmanager.yml, which is then marked secret.
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';

/** Alert severities, lowest first; a receiver gets its own and every higher one. */
export const SEVERITIES = ['warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

function resolvePath(value: string, baseDir: string): string {
  if (value === '~' || value.startsWith('~/')) return resolve(homedir(), value.slice(2));
  return isAbsolute(value) ? value : resolve(baseDir, value);
}

/** A file holding one credential: trimmed, one line, checked by `check` (which never echoes it). */
function secretFile(baseDir: string, what: string, check?: (value: string) => string | undefined) {
  return z
    .string({ error: `expected the path of a file holding the ${what}` })
    .trim()
    .min(1, `expected the path of a file holding the ${what}`)
    .transform((value, ctx) => {
      const path = resolvePath(value, baseDir);
      let text: string;
      try {
        const stat = statSync(path);
        if (!stat.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOTFILE' });
        if (stat.size > 16 * 1024) throw Object.assign(new Error('too big'), { code: 'EFBIG' });
        text = readFileSync(path, 'utf8');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        ctx.addIssue({
          code: 'custom',
          message:
            code === 'ENOENT'
              ? `${path} does not exist (it should hold the ${what})`
              : code === 'ENOTFILE'
                ? `${path} is not a file`
                : code === 'EFBIG'
                  ? `${path} is larger than 16 KiB: expected just the ${what}`
                  : `${path} cannot be read (${code ?? (error as Error).message})`,
        });
        return z.NEVER;
      }
      const secret = text.trim();
      const problem = !secret
        ? 'is empty'
        : /[\r\n]/.test(secret)
          ? 'holds more than one line'
          : check?.(secret);
      if (problem) {
        // The content is a secret: the message names the file, never what is in it.
        ctx.addIssue({ code: 'custom', message: `${path} ${problem}: expected the ${what}` });
        return z.NEVER;
      }
      return secret;
    });
}

function httpUrl(value: string): string | undefined {
  try {
    const url = new URL(value);
    return ['http:', 'https:'].includes(url.protocol) && url.hostname
      ? undefined
      : 'does not hold an http(s) URL';
  } catch {
    return 'does not hold a URL';
  }
}

const severity = z
  .enum(SEVERITIES, { error: `expected one of ${SEVERITIES.join(', ')}` })
  .default('warning');
/** Common to every receiver. */
const common = {
  /** The lowest severity this receiver is told about: "critical" skips warnings. */
  minSeverity: severity,
  /** Also send a message when an alert resolves. */
  sendResolved: z.boolean({ error: 'expected true or false' }).default(true),
};

const hostPort = z
  .string({ error: 'expected host:port of the SMTP server, such as smtp.example.com:587' })
  .trim()
  .regex(
    /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/,
    'expected host:port of the SMTP server, such as smtp.example.com:587',
  )
  .refine((value) => Number(value.split(':').at(-1)) <= 65535, {
    message: 'expected a port from 1 to 65535',
  });

export function receiverSchema(baseDir: string) {
  return z.discriminatedUnion(
    'type',
    [
      z.strictObject({
        type: z.literal('email'),
        to: z
          .array(z.email('expected an e-mail address'), { error: 'expected a list of addresses' })
          .min(1, 'expected at least one address'),
        from: z.email('expected the sender’s e-mail address'),
        /** The SMTP server (submission port 587 with STARTTLS, or 465). */
        smarthost: hostPort,
        /** Leave out for a relay that needs no login. */
        username: z.string().trim().min(1, 'expected the SMTP user name').optional(),
        passwordFile: secretFile(baseDir, 'SMTP password').optional(),
        /** STARTTLS required (leave on unless the relay is on a trusted network). */
        requireTls: z.boolean({ error: 'expected true or false' }).default(true),
        ...common,
      }),
      z.strictObject({
        type: z.literal('webhook'),
        /** Alertmanager POSTs its JSON payload there (URLs often carry a token: a file). */
        urlFile: secretFile(baseDir, 'webhook URL', httpUrl),
        ...common,
      }),
      z.strictObject({
        type: z.literal('slack'),
        /** An incoming-webhook URL (https://hooks.slack.com/services/…). */
        webhookUrlFile: secretFile(baseDir, 'Slack incoming-webhook URL', httpUrl),
        /** Overrides the webhook's default channel, e.g. "#alerts". */
        channel: z
          .string()
          .trim()
          .regex(/^[#@]?[\w.-]{1,80}$/, 'expected a channel such as #alerts')
          .optional(),
        ...common,
      }),
      z.strictObject({
        type: z.literal('discord'),
        /** A channel webhook URL (https://discord.com/api/webhooks/…). */
        webhookUrlFile: secretFile(baseDir, 'Discord webhook URL', httpUrl),
        ...common,
      }),
      z.strictObject({
        type: z.literal('telegram'),
        /** The token @BotFather gave the bot (123456:ABC-…). */
        botTokenFile: secretFile(baseDir, 'Telegram bot token', (value) =>
          /^\d+:[\w-]+$/.test(value) ? undefined : 'does not look like a bot token (123456:ABC…)',
        ),
        /** The chat the bot writes to (negative for groups). */
        chatId: z
          .number({ error: 'expected the chat id, a whole number' })
          .int('expected the chat id, a whole number')
          .refine((value) => value !== 0, { message: 'expected a chat id other than 0' }),
        /** Telegram's Bot API; change only for a self-hosted Bot API server. */
        apiUrl: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
        ...common,
      }),
    ],
    { error: 'expected type "email", "webhook", "slack", "discord" or "telegram"' },
  );
}

export type Receiver = z.output<ReturnType<typeof receiverSchema>>;
