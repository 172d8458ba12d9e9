// Policies over the synthesized Terraform JSON of both stacks: what must stay true whatever a
// future change does to the constructs or the catalogue. Synth refuses to write cdktf.out/ when
// one is broken (infra/synth.ts) and infra/test/policy.test.ts checks each against the real
// stacks and against a broken copy, so a rule that stopped looking would be noticed.
import { isPinnedImage, isSecretEnv, serviceCatalogue } from '../templates/catalogue/index.ts';
import type { DeploymentConfig } from '../templates/config.ts';

export { isPinnedImage };

type Json = Record<string, unknown>;
export interface TerraformJson {
  resource?: Record<string, Record<string, Json>>;
  data?: Record<string, Record<string, Json>>;
  output?: Record<string, Json>;
  variable?: Record<string, Json>;
  provider?: Record<string, Json[]>;
  terraform?: Json;
}

export class PolicyError extends Error {
  override name = 'PolicyError';
  readonly violations: string[];
  constructor(violations: string[]) {
    super(
      `The synthesized stacks break ${violations.length} policies:\n${violations.map((v) => `  - ${v}`).join('\n')}`,
    );
    this.violations = violations;
  }
}

export function resources(json: TerraformJson, type: string): [string, Json][] {
  return Object.entries(json.resource?.[type] ?? {});
}

export function list(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

// ---------------------------------------------------------------------------------------------
// azure
// ---------------------------------------------------------------------------------------------

/** Sources that mean "anyone on the internet". */
const ANYWHERE = new Set(['*', '0.0.0.0/0', '0.0.0.0', '::/0', 'internet', 'any']);
/** The only ports the internet may reach. */
export const OPEN_PORTS = new Set([80, 443]);

/** Every port a rule's destination range covers; `*` is every port. */
function portsOf(ranges: unknown[]): { all: boolean; ports: number[] } {
  const ports: number[] = [];
  for (const range of ranges.map(String)) {
    if (range === '*') return { all: true, ports: [] };
    const [from, to = from] = range.split('-').map((part) => Number(part.trim()));
    if (!Number.isInteger(from) || !Number.isInteger(to)) return { all: true, ports: [] };
    for (let port = from!; port <= to!; port++) ports.push(port);
  }
  return { all: false, ports };
}

interface InboundRule {
  where: string;
  sources: string[];
  all: boolean;
  ports: number[];
}

/** Inbound Allow rules, from rule resources and from rules inline in security groups. */
function inboundRules(json: TerraformJson): InboundRule[] {
  const rules: [string, Json][] = [
    ...resources(json, 'azurerm_network_security_rule'),
    ...resources(json, 'azurerm_network_security_group').flatMap(([name, nsg]) =>
      list(nsg.security_rule).map((rule, index): [string, Json] => [
        `${name}.security_rule[${index}]`,
        rule as Json,
      ]),
    ),
  ];
  return rules
    .filter(
      ([, rule]) =>
        String(rule.direction).toLowerCase() === 'inbound' &&
        String(rule.access).toLowerCase() === 'allow',
    )
    .map(([where, rule]) => {
      const { all, ports } = portsOf([
        ...list(rule.destination_port_range),
        ...list(rule.destination_port_ranges),
      ]);
      return {
        where,
        sources: [...list(rule.source_address_prefix), ...list(rule.source_address_prefixes)].map(
          String,
        ),
        all,
        ports,
      };
    });
}

/** Resource types that take no tags (the tags aspect tags every other azurerm resource). */
export const UNTAGGABLE = new Set([
  'azurerm_subnet',
  'azurerm_subnet_network_security_group_association',
  'azurerm_network_security_rule',
  'azurerm_virtual_machine_data_disk_attachment',
]);

export function checkAzure(json: TerraformJson, config: DeploymentConfig): string[] {
  const violations: string[] = [];
  const sshNetworks = new Set(config.vm.sshAllowedCidrs);
  for (const rule of inboundRules(json)) {
    const open = rule.sources.some((source) => ANYWHERE.has(source.toLowerCase()));
    if (open) {
      if (rule.all) violations.push(`NSG rule ${rule.where} opens every port to the internet`);
      const extra = rule.ports.filter((port) => !OPEN_PORTS.has(port));
      if (extra.length)
        violations.push(
          `NSG rule ${rule.where} opens ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', …' : ''} to the internet (only 80 and 443 may be)`,
        );
    }
    if (rule.all || rule.ports.includes(22)) {
      const strangers = rule.sources.filter((source) => !sshNetworks.has(source));
      if (strangers.length)
        violations.push(
          `NSG rule ${rule.where} lets ${strangers.join(', ')} reach SSH (only vm.sshAllowedCidrs may)`,
        );
    }
  }
  if (!resources(json, 'azurerm_linux_virtual_machine').length)
    violations.push('no azurerm_linux_virtual_machine in the azure stack');
  for (const [name, vm] of resources(json, 'azurerm_linux_virtual_machine')) {
    if (vm.disable_password_authentication !== true)
      violations.push(`VM ${name} allows password authentication`);
    if (vm.admin_password !== undefined) violations.push(`VM ${name} has an admin password`);
    if (!list(vm.admin_ssh_key).length) violations.push(`VM ${name} has no SSH key`);
  }
  for (const type of ['azurerm_virtual_machine', 'azurerm_windows_virtual_machine'])
    if (resources(json, type).length) violations.push(`${type} is not allowed: use the Linux VM`);
  for (const [type, byName] of Object.entries(json.resource ?? {})) {
    if (!type.startsWith('azurerm_') || UNTAGGABLE.has(type)) continue;
    for (const [name, resource] of Object.entries(byName)) {
      const tags = resource.tags as Record<string, string> | undefined;
      if (tags?.project !== config.name || tags['managed-by'] !== 'cdktf')
        violations.push(`${type}.${name} lacks the deployment's tags`);
    }
  }
  return violations;
}

// ---------------------------------------------------------------------------------------------
// services
// ---------------------------------------------------------------------------------------------

/** Environment variables whose value is a secret by their name, whatever the catalogue says. */
const SECRET_NAME = /PASSWORD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|CREDENTIAL|PASSPHRASE/i;
const VARIABLE = /\$\{[^}]*var\.[A-Za-z0-9_-]+[^}]*\}/;
const URL_PASSWORD = /:\/\/[^:/@\s]+:([^@\s]*)@/;

const IMAGE_REFERENCE = /^\$\{docker_image\.([^.}]+)\.(image_id|name)\}$/;

export function checkServices(json: TerraformJson, config: DeploymentConfig): string[] {
  const violations: string[] = [];
  const catalogue = serviceCatalogue(config);
  const spec = new Map(catalogue.map((service) => [service.name, service]));
  const publicService = catalogue.filter((service) => service.publicPorts.length);
  const images = Object.fromEntries(resources(json, 'docker_image'));
  for (const [name, image] of Object.entries(images)) {
    if (!isPinnedImage(String(image.name)))
      violations.push(`docker_image.${name} (${String(image.name)}) is not pinned to a version`);
  }
  if (publicService.length !== 1 || publicService[0]!.name !== 'swag')
    violations.push(
      `the catalogue's public services are ${publicService.map((s) => s.name).join(', ') || 'none'}, not swag alone`,
    );
  const containers = resources(json, 'docker_container');
  if (containers.length !== catalogue.length)
    violations.push(
      `${containers.length} containers for ${catalogue.length} services in the catalogue`,
    );
  for (const [key, container] of containers) {
    const name = String(container.name);
    const service = spec.get(name);
    const where = `container ${name}`;
    if (!service) {
      violations.push(`${where} (${key}) is not in the service catalogue`);
      continue;
    }
    // Ports: only the public entry publishes, and only 80/443.
    const ports = list(container.ports) as Json[];
    if (ports.length && !publicService.some((s) => s.name === name))
      violations.push(
        `${where} publishes ports: only ${publicService.map((s) => s.name).join(', ')} may`,
      );
    for (const port of ports)
      if (!OPEN_PORTS.has(Number(port.external ?? port.internal)))
        violations.push(`${where} publishes port ${String(port.external ?? port.internal)}`);
    // Restarts, memory, logs.
    const restart = String(container.restart ?? '');
    const oneShot = restart === 'no' && container.must_run === false;
    if (!['unless-stopped', 'always', 'on-failure'].includes(restart) && !oneShot)
      violations.push(`${where} has no restart policy (restart "${restart}")`);
    if (!(Number(container.memory) > 0)) violations.push(`${where} has no memory limit`);
    const logOpts = (container.log_opts ?? {}) as Record<string, string>;
    if (
      !['json-file', 'local'].includes(String(container.log_driver)) ||
      !logOpts['max-size'] ||
      !logOpts['max-file']
    )
      violations.push(`${where} has no log rotation (log_driver with max-size and max-file)`);
    // Health checks, unless the catalogue says why the image has none, or it runs once.
    const check = container.healthcheck as Json | undefined;
    const test = list(check?.test).map(String);
    const disabled = test[0] === 'NONE';
    if ((!check || disabled) && !oneShot && !service.healthNote)
      violations.push(`${where} has no health check`);
    // Images: built or pulled by a pinned docker_image resource.
    const imageRef = String(container.image);
    const match = IMAGE_REFERENCE.exec(imageRef);
    if (match) {
      if (!images[match[1]!]) violations.push(`${where} uses a docker_image that does not exist`);
    } else if (!isPinnedImage(imageRef))
      violations.push(`${where} runs an unpinned image ${imageRef}`);
    // Secrets: from sensitive variables only.
    for (const entry of list(container.env).map(String)) {
      const [envName, ...rest] = entry.split('=');
      const value = rest.join('=');
      const declared = service.environment[envName!];
      const secret =
        (declared !== undefined && isSecretEnv(declared)) || SECRET_NAME.test(envName!);
      if (secret && !VARIABLE.test(value))
        violations.push(`${where} sets ${envName} to a literal: secrets come from variables`);
      const password = URL_PASSWORD.exec(value)?.[1];
      if (password !== undefined && !VARIABLE.test(password))
        violations.push(`${where} has a literal password in the URL of ${envName}`);
    }
    const secretTargets = new Set(service.files.filter((f) => f.secret).map((f) => f.target));
    for (const upload of list(container.upload) as Json[]) {
      if (secretTargets.has(String(upload.file)) && !VARIABLE.test(String(upload.content ?? '')))
        violations.push(`${where} uploads ${String(upload.file)} as a literal: it holds a secret`);
    }
  }
  for (const [name, variable] of Object.entries(json.variable ?? {})) {
    if (variable.sensitive !== true) violations.push(`variable ${name} is not marked sensitive`);
    if (variable.default !== undefined) violations.push(`variable ${name} has a default value`);
  }
  return violations;
}

// ---------------------------------------------------------------------------------------------
// secrets anywhere
// ---------------------------------------------------------------------------------------------

/** No secret value (nor its URL-encoded form) appears anywhere in the synthesized files. */
export function checkNoSecretLiterals(
  jsons: Record<string, TerraformJson>,
  secretValues: string[],
): string[] {
  const violations: string[] = [];
  const forms = [
    ...new Set(
      secretValues
        .filter((value) => value.length >= 8)
        .flatMap((value) => [value, encodeURIComponent(value)]),
    ),
  ];
  for (const [stack, json] of Object.entries(jsons)) {
    const text = JSON.stringify(json);
    const found = forms.filter(
      (form) => text.includes(form) || text.includes(JSON.stringify(form).slice(1, -1)),
    );
    if (found.length)
      violations.push(
        `the ${stack} stack holds ${found.length} secret value(s) as literals (${found.map((f) => `${f.slice(0, 4)}…`).join(', ')})`,
      );
  }
  return violations;
}

/** Literal values where a secret belongs (what the services policy refuses), with where. */
export function secretPositionLiterals(
  jsons: Record<string, TerraformJson>,
  config: DeploymentConfig,
): { where: string; literal: string }[] {
  const found: { where: string; literal: string }[] = [];
  const spec = new Map(serviceCatalogue(config).map((service) => [service.name, service]));
  const literal = (value: unknown) => String(value ?? '').replace(/\$\{[^}]*\}/g, '');
  for (const [stack, json] of Object.entries(jsons)) {
    for (const [name, vm] of resources(json, 'azurerm_linux_virtual_machine'))
      if (vm.admin_password !== undefined)
        found.push({
          where: `${stack}: VM ${name} admin_password`,
          literal: literal(vm.admin_password),
        });
    for (const [name, variable] of Object.entries(json.variable ?? {}))
      if (variable.sensitive === true && variable.default !== undefined)
        found.push({
          where: `${stack}: variable ${name} default`,
          literal: literal(variable.default),
        });
    for (const [, container] of resources(json, 'docker_container')) {
      const service = spec.get(String(container.name));
      for (const entry of list(container.env).map(String)) {
        const [envName, ...rest] = entry.split('=');
        const value = rest.join('=');
        const declared = service?.environment[envName!];
        const password = URL_PASSWORD.exec(value)?.[1];
        if ((declared !== undefined && isSecretEnv(declared)) || SECRET_NAME.test(envName!)) {
          if (password !== undefined)
            found.push({
              where: `${stack}: ${String(container.name)} ${envName}`,
              literal: literal(password),
            });
          else
            found.push({
              where: `${stack}: ${String(container.name)} ${envName}`,
              literal: literal(value),
            });
        } else if (password !== undefined)
          found.push({
            where: `${stack}: ${String(container.name)} ${envName}`,
            literal: literal(password),
          });
      }
      const secretTargets = new Set(service?.files.filter((f) => f.secret).map((f) => f.target));
      for (const upload of list(container.upload) as Json[])
        if (secretTargets.has(String(upload.file)))
          found.push({
            where: `${stack}: ${String(container.name)} ${String(upload.file)}`,
            literal: literal(upload.content),
          });
    }
  }
  return found.filter((item) => item.literal.length > 0);
}

/**
 * No literal in a secret's place that is also written in the repository (a default password, an
 * example credential): `repository` is the text of the repository's files.
 */
export function checkRepositoryLiterals(
  jsons: Record<string, TerraformJson>,
  config: DeploymentConfig,
  repository: string,
): string[] {
  return secretPositionLiterals(jsons, config)
    .filter((item) => item.literal.length >= 4 && repository.includes(item.literal))
    .map(
      (item) => `${item.where} is "${item.literal.slice(0, 3)}…", which is also in the repository`,
    );
}

export function checkAll(options: {
  azure: TerraformJson;
  services: TerraformJson;
  config: DeploymentConfig;
  secretValues: string[];
}): string[] {
  return [
    ...checkAzure(options.azure, options.config),
    ...checkServices(options.services, options.config),
    ...checkNoSecretLiterals(
      { azure: options.azure, services: options.services },
      options.secretValues,
    ),
  ];
}
