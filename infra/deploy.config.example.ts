// The deployment configuration: everything that differs between one refresher deployment and
// another. Copy this file to infra/deploy.config.ts (git-ignored) and edit the copy:
//
//   cp infra/deploy.config.example.ts infra/deploy.config.ts
//   npm run render -- --out render          # check what it produces
//
// Every value is checked before anything is rendered or deployed; a mistake is reported with the
// name of the field (see docs/deployment-config.md for each setting and why it exists).
// Secrets (passwords, the session secret) are not set here: they are generated on first use and
// kept in .secrets/<name>.json, outside git.
import { defineDeployment } from '../templates/config.ts';

export default defineDeployment({
  // Names the compose project, the Azure resources and the secrets file.
  name: 'refresher',

  // The domain the public names end in: speed.lab.example.com and grafana.lab.example.com here.
  domain: 'lab.example.com',
  subdomains: {
    speedtester: 'speed', // speed.lab.example.com: admin portal, API, queue board, speed test target
    grafana: 'grafana', // grafana.lab.example.com: dashboards
    // prometheus: 'prometheus', // uncomment to publish Prometheus (always behind basic auth)
  },

  // Let's Encrypt through SWAG's certbot. "http" needs port 80 reachable from the internet;
  // "dns" proves ownership through a TXT record instead:
  //   certbot: { email: '…', validation: 'dns', dnsPlugin: 'azure', credentialsFile: '~/.secrets/azure.ini' },
  certbot: {
    email: 'admin@example.com',
    validation: 'http',
    staging: false, // true while experimenting: untrusted certificates, no rate-limit trouble
  },

  // Who answers for those names (docs/dns.md). 'subdomain-zone': an Azure DNS zone for `domain`,
  // a subdomain of a domain whose DNS stays where it is; `npm run deploy` prints the NS records to
  // add there once (lab NS ns1-…azure-dns.com) and waits for them. The other modes:
  //   { mode: 'domain-zone' }     an Azure zone for a domain of its own (set its name servers at
  //                               the registrar; any record it had elsewhere must move too)
  //   { mode: 'existing-zone', resourceGroup: 'rg-dns', zone: 'example.com' }   a zone you have
  //   { mode: 'external' }        no Azure DNS: the deploy prints the A records to add, and waits
  dns: { mode: 'subdomain-zone' },

  azure: {
    location: 'westeurope', // `az account list-locations -o table` lists the names
    // Terraform state stays in .state/ on this machine unless you name a storage account
    // (docs/infrastructure.md shows how to make one):
    // remoteState: { resourceGroup: 'rg-tfstate', storageAccount: 'refreshertfstate', container: 'tfstate' },
    tags: { owner: 'you@example.com' }, // added to every Azure resource
  },

  vm: {
    size: 'Standard_B2s', // 2 vCPU, 4 GiB: enough for the whole stack
    adminUsername: 'azureuser', // sudo user Azure creates; the deploy user (Docker only) is added
    // The public half of your SSH key pair; both users accept it. This example points at a key
    // nobody holds the private half of: replace it with yours, e.g. '~/.ssh/id_ed25519.pub'.
    sshPublicKeyPath: './example-admin-key.pub',
    // Its private half, which the deploy's ssh offers (and only it): by default the same path
    // without .pub. Name it when it lives elsewhere; a passphrase-protected key goes in ssh-agent.
    // sshPrivateKeyPath: '~/.ssh/id_ed25519',
    // Who may reach SSH (port 22): your own address or network. 0.0.0.0/0 is refused.
    sshAllowedCidrs: ['203.0.113.7/32'],
    osDiskGiB: 64,
    osDiskType: 'StandardSSD_LRS', // or Premium_LRS (faster, dearer), Standard_LRS (HDD)
    dataDiskGiB: 0, // e.g. 128 for a separate managed disk holding Docker's data (the volumes)
    dataDiskType: 'StandardSSD_LRS',
    swapGiB: 'auto', // from the size's memory; a number for sizes not in templates/config.ts
    automaticReboot: '04:30', // when unattended upgrades may reboot for a new kernel; false: never
  },

  // The VM's clock and Grafana's default; schedules have their own time zones.
  timezone: 'Europe/Amsterdam',

  // The containers' private network; change it only if it collides with one of yours.
  network: { subnet: '172.28.0.0/24' },

  speedtest: {
    engine: 'librespeed', // or 'ookla' (needs acceptOoklaLicense: true)
    intervalMinutes: 30, // the seeded "Process Speed Test" schedule runs every 30 minutes
    servers: [], // LibreSpeed backend URLs or Ookla server ids; empty: the engine chooses
    // Setting this to true accepts Ookla's licence, terms and GDPR notice for this deployment.
    acceptOoklaLicense: false,
    // true: anyone may run a speed test against this VM at speed.<domain>/speedtest/ (LibreSpeed's
    // endpoints). Every byte their tests download is egress you pay for, so it is off: swag then
    // answers 404 there. The scheduled self-test reaches the web container directly either way.
    publicTarget: false,
    // A public, read-only status page at https://<speedtester name>/status (latest results,
    // the last seven days, a chart; no admin data). Off: it tells anyone how the line performs.
    publicStatusPage: false,
  },

  // Alert when a speed test measures less than this (the link you pay for, minus a margin).
  alerts: {
    downloadFloorMbps: 50,
    uploadFloorMbps: 10,
    consecutiveBelowFloor: 1, // tests in a row below a floor before it alerts (1 to 20)
    // Ceilings on the line's quality, each its own alert; leave one out for no such alert.
    // pingCeilingMs: 100, // idle round trip to the server
    // jitterCeilingMs: 30,
    // packetLossCeilingPercent: 1, // only the ookla engine measures loss; 0: any loss
    // bufferbloatCeilingMs: 60, // latency rise under load: 60 ms and more is a grade C or worse
    // Where Alertmanager sends notifications (docs/monitoring.md). Credentials are paths of files
    // of yours, outside git; with none, alerts are only listed in Alertmanager and Prometheus.
    receivers: [
      // { type: 'email', to: ['you@example.com'], from: 'alerts@example.com',
      //   smarthost: 'smtp.example.com:587', username: 'alerts@example.com',
      //   passwordFile: '~/.secrets/smtp-password' },
      // { type: 'slack', webhookUrlFile: '~/.secrets/slack-webhook-url', channel: '#alerts' },
      // { type: 'discord', webhookUrlFile: '~/.secrets/discord-webhook-url' },
      // { type: 'telegram', botTokenFile: '~/.secrets/telegram-bot-token', chatId: 123456789 },
      // { type: 'webhook', urlFile: '~/.secrets/alert-webhook-url', minSeverity: 'critical' },
    ],
    repeatHours: 4, // a still-firing warning is sent again after this many hours
  },

  retention: {
    resultsDays: 365, // task results and speed tests (RESULT_RETENTION_DAYS)
    prometheusDays: 30, // metrics history
  },

  admin: { username: 'admin' }, // the app's first admin; the password is generated
  basicAuth: { username: 'ops' }, // the proxy's basic auth (queue board, Prometheus)

  // The app image is built on the VM from the bundled app (npm run bundle); set this and
  // images.app to pull a published image instead, e.g. ghcr.io/you/refresher:1.2.3.
  pullAppImage: false,

  // Pinned image versions live in templates/catalogue/images.ts; override one here, e.g.
  // images: { postgres: 'postgres:17.7-bookworm' },
  images: {},
});
