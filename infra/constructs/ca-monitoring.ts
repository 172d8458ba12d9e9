// Monitoring of a Container Apps deployment (docs/v2.md says why this one): Azure Monitor managed
// Prometheus keeps the metrics, fed by a Prometheus agent beside each replica (a scrape through
// the load-balanced ingress would sample one replica at random), and evaluates the project's own
// alert rules (prometheus/rules.ts) as Prometheus rule groups, routed to an action group made from
// the configured receivers. Grafana reads it with the apps' identity.
import { Construct } from 'constructs';
import { TerraformVariable } from 'cdktf';
import { MonitorActionGroup } from '@cdktf/provider-azurerm/lib/monitor-action-group/index.js';
import { MonitorAlertPrometheusRuleGroup } from '@cdktf/provider-azurerm/lib/monitor-alert-prometheus-rule-group/index.js';
import { MonitorDataCollectionEndpoint } from '@cdktf/provider-azurerm/lib/monitor-data-collection-endpoint/index.js';
import { MonitorDataCollectionRule } from '@cdktf/provider-azurerm/lib/monitor-data-collection-rule/index.js';
import { MonitorWorkspace } from '@cdktf/provider-azurerm/lib/monitor-workspace/index.js';
import type { ResourceGroup } from '@cdktf/provider-azurerm/lib/resource-group/index.js';
import { PORTS } from '../../contract/ports.ts';
import type { ContainerAppsConfig } from '../../templates/container-apps.ts';
import { containerAppsAlertRules, SCRAPE_INTERVAL_SECONDS } from '../../templates/prometheus.ts';

/** Prometheus's "5m" as ISO 8601 (PT5M), which Azure's rule groups take. */
export function isoDuration(duration: string): string {
  const match = /^(\d+)([smh])$/.exec(duration);
  if (!match) throw new Error(`unexpected Prometheus duration "${duration}"`);
  return `PT${match[1]}${match[2]!.toUpperCase()}`;
}

/** Azure's alert severities: 0 critical … 4 verbose. */
const SEVERITY = { critical: 0, warning: 2 } as const;

/** The agent's configuration: scrape this replica's metrics port, write to Azure Monitor. */
export function agentConfig(options: {
  role: string;
  remoteWriteUrl: string;
  identityClientId: string;
  deployment: string;
}): string {
  // Prometheus 3 expands $VAR in external labels, where Container Apps names each replica. Not
  // ${VAR}: Terraform would read that as its own interpolation.
  return `# The Prometheus agent beside one replica (infra/constructs/ca-monitoring.ts).
global:
  scrape_interval: ${SCRAPE_INTERVAL_SECONDS}s
  external_labels:
    deployment: ${options.deployment}
    replica: $CONTAINER_APP_REPLICA_NAME
    revision: $CONTAINER_APP_REVISION
scrape_configs:
  - job_name: ${options.role}
    static_configs:
      - targets: ['127.0.0.1:${PORTS.metrics}']
remote_write:
  - url: ${options.remoteWriteUrl}
    azuread:
      cloud: AzurePublic
      managed_identity:
        client_id: ${options.identityClientId}
`;
}

export class CaMonitoring extends Construct {
  readonly workspace: MonitorWorkspace;
  readonly collectionRule: MonitorDataCollectionRule;
  /** Where the agents write (Azure Monitor's remote-write endpoint of the rule). */
  readonly remoteWriteUrl: string;
  /** Sensitive variables the stack must fill from the receivers' files, by name. */
  readonly variableValues: Record<string, string> = {};

  constructor(
    scope: Construct,
    id: string,
    props: { config: ContainerAppsConfig; resourceGroup: ResourceGroup },
  ) {
    super(scope, id);
    const { config } = props;
    const group = props.resourceGroup;
    const location = group.location;
    this.workspace = new MonitorWorkspace(this, 'workspace', {
      name: `amw-${config.name}`,
      resourceGroupName: group.name,
      location,
      publicNetworkAccessEnabled: true,
    });
    const endpoint = new MonitorDataCollectionEndpoint(this, 'endpoint', {
      name: `dce-${config.name}`,
      resourceGroupName: group.name,
      location,
    });
    this.collectionRule = new MonitorDataCollectionRule(this, 'rule', {
      name: `dcr-${config.name}-prometheus`,
      resourceGroupName: group.name,
      location,
      dataCollectionEndpointId: endpoint.id,
      destinations: {
        monitorAccount: [{ monitorAccountId: this.workspace.id, name: 'workspace' }],
      },
      dataFlow: [{ streams: ['Microsoft-PrometheusMetrics'], destinations: ['workspace'] }],
      dataSources: {
        prometheusForwarder: [{ name: 'agents', streams: ['Microsoft-PrometheusMetrics'] }],
      },
    });
    this.remoteWriteUrl = `${endpoint.metricsIngestionEndpoint}/dataCollectionRules/${this.collectionRule.immutableId}/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24`;

    const receivers = config.alerts.receivers;
    let actionGroupId: string | undefined;
    if (receivers.length) {
      const emails = receivers.flatMap((receiver, index) =>
        receiver.type === 'email'
          ? receiver.to.map((address, n) => ({
              name: `email-${index}-${n}`,
              emailAddress: address,
              useCommonAlertSchema: true,
            }))
          : [],
      );
      const webhooks = receivers.flatMap((receiver, index) => {
        if (receiver.type !== 'webhook') return [];
        // The URL often carries a token: a sensitive variable, never a literal in the JSON.
        const name = `receiver_${index}_url`;
        const variable = new TerraformVariable(this, name, {
          type: 'string',
          sensitive: true,
          nullable: false,
          description: `The webhook URL of alerts.receivers[${index}] (from its urlFile)`,
        });
        // The tfvars file names it so: no construct path in front.
        variable.overrideLogicalId(name);
        this.variableValues[name] = receiver.urlFile;
        return [
          {
            name: `webhook-${index}`,
            serviceUri: variable.stringValue,
            useCommonAlertSchema: true,
          },
        ];
      });
      actionGroupId = new MonitorActionGroup(this, 'receivers', {
        name: `ag-${config.name}`,
        resourceGroupName: group.name,
        shortName: config.name.replace(/-/g, '').slice(0, 12),
        emailReceiver: emails,
        webhookReceiver: webhooks,
      }).id;
    }

    const rules = containerAppsAlertRules(config);
    new MonitorAlertPrometheusRuleGroup(this, 'alerts', {
      name: `prg-${config.name}`,
      resourceGroupName: group.name,
      location,
      description: 'The alert rules of prometheus/rules.ts that apply to Container Apps',
      scopes: [this.workspace.id],
      interval: 'PT1M',
      ruleGroupEnabled: true,
      rule: rules.map((rule) => ({
        alert: rule.alert,
        expression: rule.expr.trim(),
        ...(rule.for ? { for: isoDuration(rule.for) } : {}),
        severity: SEVERITY[rule.labels.severity],
        labels: rule.labels,
        annotations: rule.annotations,
        enabled: true,
        alertResolution: { autoResolved: true, timeToResolve: 'PT10M' },
        ...(actionGroupId ? { action: [{ actionGroupId }] } : {}),
      })),
    });
  }
}
