// Grafana's file provisioning: the two datasources and the dashboard provider, as the objects
// Grafana reads from /etc/grafana/provisioning/{datasources,dashboards}/*.yaml. No credential is
// in them: Grafana expands $__env{NAME} from its container's environment when it reads the file,
// and the catalogue gives the grafana container that variable from the generated secrets.
import { DATASOURCES } from './lib.ts';

export interface ProvisioningParams {
  /** host:port of PostgreSQL, and the database the app's tables are in. */
  postgresAddress: string;
  database: string;
  /** The read-only role Grafana queries with (grafana/reader-role.sql creates it). */
  readerRole: string;
  /** The environment variable that holds its password in the grafana container. */
  readerPasswordEnv: string;
  /** PostgreSQL's major version times 100 (1700), which Grafana's query editor uses. */
  postgresVersion: number;
  prometheusUrl: string;
  /** Prometheus's scrape interval: the smallest step Grafana asks for ($__rate_interval). */
  scrapeIntervalSeconds: number;
  /** Where the dashboard JSON files are mounted in the container. */
  dashboardsPath: string;
  /** libpq's sslmode for the PostgreSQL datasource; a private network of containers: disable. */
  postgresSslMode?: 'disable' | 'verify-full';
  /** Sign Prometheus queries with Grafana's managed identity (Azure Monitor's query endpoint). */
  prometheusAzureAuth?: boolean;
}

export function datasourcesProvisioning(params: ProvisioningParams): Record<string, unknown> {
  return {
    apiVersion: 1,
    datasources: [
      {
        name: 'Prometheus',
        uid: DATASOURCES.prometheus.uid,
        type: DATASOURCES.prometheus.type,
        access: 'proxy',
        url: params.prometheusUrl,
        isDefault: true,
        editable: false,
        jsonData: {
          httpMethod: 'POST',
          timeInterval: `${params.scrapeIntervalSeconds}s`,
          prometheusType: 'Prometheus',
          ...(params.prometheusAzureAuth ? { azureCredentials: { authType: 'msi' } } : {}),
        },
      },
      {
        name: 'PostgreSQL',
        uid: DATASOURCES.postgres.uid,
        type: DATASOURCES.postgres.type,
        access: 'proxy',
        url: params.postgresAddress,
        user: params.readerRole,
        editable: false,
        jsonData: {
          database: params.database,
          sslmode: params.postgresSslMode ?? 'disable',
          postgresVersion: params.postgresVersion,
          timescaledb: false,
          maxOpenConns: 5,
          maxIdleConns: 2,
          connMaxLifetime: 14400,
        },
        secureJsonData: { password: `$__env{${params.readerPasswordEnv}}` },
      },
    ],
  };
}

export function dashboardsProvisioning(params: ProvisioningParams): Record<string, unknown> {
  return {
    apiVersion: 1,
    providers: [
      {
        name: 'refresher',
        orgId: 1,
        folder: 'Refresher',
        folderUid: 'refresher',
        type: 'file',
        // The files are the source of truth: edits in the UI cannot be saved over them, and a
        // dashboard removed from the files disappears from Grafana.
        disableDeletion: false,
        allowUiUpdates: false,
        updateIntervalSeconds: 60,
        options: { path: params.dashboardsPath, foldersFromFilesStructure: false },
      },
    ],
  };
}
