// Alertmanager's configuration (alertmanager.yml) as a template: routing, grouping, inhibition
// and the receivers. Alertmanager belongs to the Prometheus project, so it lives next to the
// scrape configuration and the rules it routes. templates/alertmanager.ts fills it from
// `alerts.receivers` of the deployment configuration.
//
// Routing: every alert goes to the receiver of its severity. "critical" alerts reach every
// integration; "warning" alerts only those whose minSeverity is "warning". Alerts are grouped
// by name and severity: one message lists, say, every filesystem that is filling up.
// Inhibition: a down target silences the alerts computed from its metrics (same `job`), a down
// database silences the exporter's other alerts, and a critical alert silences the warning of the
// same name on the same thing.

export type Severity = 'warning' | 'critical';

interface Common {
  minSeverity: Severity;
  sendResolved: boolean;
}
export type Integration = Common &
  (
    | {
        type: 'email';
        to: string[];
        from: string;
        smarthost: string;
        username?: string;
        password?: string;
        requireTls: boolean;
      }
    | { type: 'webhook'; url: string }
    | { type: 'slack'; webhookUrl: string; channel?: string }
    | { type: 'discord'; webhookUrl: string }
    | { type: 'telegram'; botToken: string; chatId: number; apiUrl?: string }
  );

export interface AlertmanagerParams {
  integrations: Integration[];
  repeatHours: number;
  /** How long a new group waits for more alerts before the first message (default 30s). */
  groupWait?: string;
  /** How long before a message about changes in an already notified group (default 5m). */
  groupInterval?: string;
}

/** The receiver names in alertmanager.yml. */
export const RECEIVERS = { critical: 'notify-critical', warning: 'notify-warning' } as const;

// Messages: Go templates Alertmanager fills per notification (one notification = one group).
const TITLE =
  '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] ' +
  '{{ .CommonLabels.alertname }}{{ with .CommonLabels.deployment }} on {{ . }}{{ end }}';
const LINES =
  '{{ range .Alerts }}{{ if eq .Status "firing" }}FIRING{{ else }}resolved{{ end }}: ' +
  '{{ .Annotations.summary }}\n{{ end }}';
/** Telegram reads HTML: the same lines, escaped. */
const LINES_HTML =
  '{{ range .Alerts }}{{ if eq .Status "firing" }}FIRING{{ else }}resolved{{ end }}: ' +
  '{{ .Annotations.summary | html }}\n{{ end }}';

function integrationConfig(integration: Integration): [string, Record<string, unknown>] {
  const send_resolved = integration.sendResolved;
  switch (integration.type) {
    case 'email':
      return [
        'email_configs',
        {
          to: integration.to.join(', '),
          from: integration.from,
          smarthost: integration.smarthost,
          ...(integration.username ? { auth_username: integration.username } : {}),
          ...(integration.password ? { auth_password: integration.password } : {}),
          require_tls: integration.requireTls,
          headers: { Subject: TITLE },
          text: LINES,
          send_resolved,
        },
      ];
    case 'webhook':
      // The generic JSON payload: every alert with its labels and annotations.
      return ['webhook_configs', { url: integration.url, send_resolved }];
    case 'slack':
      return [
        'slack_configs',
        {
          api_url: integration.webhookUrl,
          ...(integration.channel ? { channel: integration.channel } : {}),
          title: TITLE,
          text: LINES,
          send_resolved,
        },
      ];
    case 'discord':
      return [
        'discord_configs',
        { webhook_url: integration.webhookUrl, title: TITLE, message: LINES, send_resolved },
      ];
    case 'telegram':
      return [
        'telegram_configs',
        {
          bot_token: integration.botToken,
          chat_id: integration.chatId,
          ...(integration.apiUrl ? { api_url: integration.apiUrl } : {}),
          parse_mode: 'HTML',
          message: `<b>${TITLE}</b>\n${LINES_HTML}`,
          send_resolved,
        },
      ];
  }
}

function receiver(name: string, integrations: Integration[]): Record<string, unknown> {
  const configs: Record<string, Record<string, unknown>[]> = {};
  for (const integration of integrations) {
    const [key, config] = integrationConfig(integration);
    (configs[key] ??= []).push(config);
  }
  return { name, ...configs };
}

export function alertmanagerConfig(params: AlertmanagerParams): Record<string, unknown> {
  const repeat = `${params.repeatHours}h`;
  return {
    route: {
      receiver: RECEIVERS.warning,
      group_by: ['alertname', 'severity'],
      group_wait: params.groupWait ?? '30s',
      group_interval: params.groupInterval ?? '5m',
      repeat_interval: repeat,
      routes: [
        {
          receiver: RECEIVERS.critical,
          matchers: ['severity="critical"'],
          // A critical alert is repeated at least every hour.
          repeat_interval: `${Math.min(params.repeatHours, 1)}h`,
        },
      ],
    },
    inhibit_rules: [
      {
        // A target that cannot be scraped: its other alerts would only echo that.
        source_matchers: ['alertname="TargetDown"'],
        target_matchers: ['alertname!="TargetDown"'],
        equal: ['job'],
      },
      {
        // The database is down: its exporter's other alerts are consequences.
        source_matchers: ['alertname=~"PostgresDown|RedisDown"'],
        target_matchers: ['alertname!~"TargetDown|PostgresDown|RedisDown"'],
        equal: ['job'],
      },
      {
        // The critical level of an alert makes its warning level redundant.
        source_matchers: ['severity="critical"'],
        target_matchers: ['severity="warning"'],
        equal: ['alertname', 'job', 'instance', 'mountpoint'],
      },
    ],
    receivers: [
      receiver(RECEIVERS.critical, params.integrations),
      receiver(
        RECEIVERS.warning,
        params.integrations.filter((integration) => integration.minSeverity === 'warning'),
      ),
    ],
  };
}
