// The dashboards provisioned into Grafana, by file name (without .json): grafana/dashboards/
// builds one for each name, the renderer writes each to its own file, and the catalogue mounts
// each of those files into the grafana container.
export const DASHBOARD_NAMES = [
  'speedtester',
  'probes',
  'tasks',
  'host',
  'containers',
  'postgresql',
  'redis',
] as const;
export type DashboardName = (typeof DASHBOARD_NAMES)[number];
