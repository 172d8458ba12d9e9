// Every dashboard, by the file name it is provisioned as (grafana/dashboards/<name>.json in the
// render output). Adding one: name it in contract/dashboards.ts (the catalogue mounts it from
// there), write its module here and list it below; a name without a dashboard does not compile.
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import type { DashboardName } from '../../contract/dashboards.ts';
import type { DashboardParams } from '../lib.ts';
import { containersDashboard } from './containers.ts';
import { hostDashboard } from './host.ts';
import { postgresDashboard } from './postgres.ts';
import { probesDashboard } from './probes.ts';
import { redisDashboard } from './redis.ts';
import { speedtesterDashboard } from './speedtester.ts';
import { tasksDashboard } from './tasks.ts';

export function allDashboards(params: DashboardParams): Record<DashboardName, Dashboard> {
  return {
    speedtester: speedtesterDashboard(params),
    probes: probesDashboard(),
    tasks: tasksDashboard(params),
    host: hostDashboard(),
    containers: containersDashboard(),
    postgresql: postgresDashboard(),
    redis: redisDashboard(),
  };
}
