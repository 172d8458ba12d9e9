// A deployment configuration for the second target, V2: the same service on Azure Container Apps
// with PostgreSQL Flexible Server and Azure Managed Redis (docs/v2.md). Copy it to
// infra/deploy.config.ts (git-ignored) and edit the copy; `npm run synth` then builds the stack
// "container-apps" instead of the VM's two. Every field not shown here, and every default, is in
// templates/container-apps.ts; the fields it shares with the VM are explained in
// infra/deploy.config.example.ts.
import { defineContainerAppsDeployment } from '../templates/container-apps.ts';

export default defineContainerAppsDeployment({
  target: 'container-apps',
  name: 'refresher',
  domain: 'lab.example.com',
  subdomains: { speedtester: 'speed', grafana: 'grafana' },
  // CNAME and TXT records in an Azure zone for lab.example.com, which Azure checks before it issues
  // each name's certificate (or 'domain-zone', 'existing-zone'; an external DNS host cannot be).
  dns: { mode: 'subdomain-zone' },
  azure: { location: 'westeurope', tags: { owner: 'you@example.com' } },
  timezone: 'Europe/Amsterdam',

  speedtest: {
    engine: 'librespeed',
    // No proxy keeps the built-in target private here: name servers to measure against, or set
    // publicTarget: true to serve it (and pay for the egress of anyone's tests).
    servers: ['https://librespeed.example.net/backend'],
  },
  alerts: {
    downloadFloorMbps: 50,
    uploadFloorMbps: 10,
    // Azure Monitor sends these (an action group): e-mail and webhooks only.
    receivers: [],
  },

  containerApps: {
    web: { minReplicas: 2, maxReplicas: 6, cpu: 0.5 },
    worker: { minReplicas: 1, maxReplicas: 4, cpu: 0.5, waitingJobsPerReplica: 100 },
    scheduler: { replicas: 2 },
    // B_Standard_B1ms is the smallest; GP_Standard_D2ds_v5 with highAvailability: 'ZoneRedundant'
    // for a standby in another zone.
    postgres: { sku: 'B_Standard_B1ms', version: '17', storageGiB: 32, highAvailability: 'off' },
    redis: { sku: 'Balanced_B0', highAvailability: false },
  },
});
