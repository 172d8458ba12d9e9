// Stack "services": the containers on the VM, through its Docker Engine over SSH
// (ssh://deploy@<the azure stack's address>). One network, the named volumes, the images (the app
// built on the VM from the bundle, the rest pulled at their pinned versions), and one container
// for each entry of the service catalogue with its rendered config files uploaded.
//
// Secrets never appear in the synthesized configuration: each is a sensitive Terraform variable
// whose value synth writes to secrets.auto.tfvars.json next to it (mode 0600, in git-ignored
// cdktf.out/). Terraform keeps them in its state, like every other attribute: protect the state
// (docs/infrastructure.md).
import {
  TerraformOutput,
  TerraformStack,
  TerraformVariable,
  type ITerraformDependable,
} from 'cdktf';
import { join } from 'node:path';
import type { Construct } from 'constructs';
import { Image } from '@cdktf/provider-docker/lib/image/index.js';
import { Network } from '@cdktf/provider-docker/lib/network/index.js';
import { DockerProvider } from '@cdktf/provider-docker/lib/provider/index.js';
import { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import { image, serviceCatalogue, VOLUMES } from '../../templates/catalogue/index.ts';
import { networkPlan } from '../../templates/config.ts';
import { SECRET_NAMES, type SecretName } from '../../templates/secrets.ts';
import { AppImage } from '../constructs/app-image.ts';
import { configureBackend } from '../constructs/backend.ts';
import { stackSshOptions } from '../constructs/ssh.ts';
import { ServiceContainer } from '../constructs/service-container.ts';
import type { DeploymentInputs } from '../inputs.ts';

export const SERVICES_STACK = 'services';
/** The file synth writes beside the stack's configuration; Terraform loads it by its name. */
export const SECRETS_TFVARS = 'secrets.auto.tfvars.json';

/** postgresPassword -> postgres_password (a Terraform variable name). */
export function secretVariableName(name: SecretName): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** swag/refresher.htpasswd -> file_swag_refresher_htpasswd */
export function fileVariableName(path: string): string {
  return `file_${path.replace(/[^A-Za-z0-9]+/g, '_')}`;
}

export class ServicesStack extends TerraformStack {
  /** Values of the sensitive variables, by name: what synth writes to SECRETS_TFVARS. */
  readonly variableValues: Record<string, string> = {};
  readonly containers = new Map<string, ServiceContainer>();

  constructor(
    scope: Construct,
    inputs: DeploymentInputs,
    outDir: string,
    host: { dockerHost: string; publicAddress: string },
  ) {
    super(scope, SERVICES_STACK);
    const { config, secrets } = inputs;
    configureBackend(this, {
      config,
      stateDir: inputs.stateDir,
      outDir,
      stackName: SERVICES_STACK,
    });
    new DockerProvider(this, 'docker', {
      host: host.dockerHost,
      // The system ssh with the configured key only, its commands sharing one connection
      // (templates/ssh.ts); the host key was accepted when the azure stack waited for the VM.
      sshOpts: stackSshOptions(config, outDir, SERVICES_STACK),
    });

    const secretVariables = new Map<SecretName, TerraformVariable>();
    for (const name of SECRET_NAMES) {
      const variableName = secretVariableName(name);
      secretVariables.set(
        name,
        new TerraformVariable(this, variableName, {
          type: 'string',
          sensitive: true,
          nullable: false,
          description: `Generated secret ${name} (templates/secrets.ts), from ${SECRETS_TFVARS}`,
        }),
      );
      this.variableValues[variableName] = secrets[name];
    }
    const fileVariables = new Map<string, TerraformVariable>();
    for (const file of inputs.files.values()) {
      if (!file.secret) continue;
      const variableName = fileVariableName(file.path);
      fileVariables.set(
        file.path,
        new TerraformVariable(this, variableName, {
          type: 'string',
          sensitive: true,
          nullable: false,
          description: `Rendered ${file.path} (holds a secret or credentials), from ${SECRETS_TFVARS}`,
        }),
      );
      this.variableValues[variableName] = file.content;
    }

    const plan = networkPlan(config);
    const network = new Network(this, 'network', {
      name: config.name,
      driver: 'bridge',
      ipamConfig: [{ subnet: plan.subnet, ipRange: plan.ipRange, gateway: plan.gateway }],
    });
    // Named as docker compose names them (<project>_<volume>), so backups and tools see the same
    // names on a laptop and on the VM.
    const volumes = new Map(
      VOLUMES.map((volume) => [
        volume,
        new Volume(this, `volume-${volume}`, {
          name: `${config.name}_${volume}`,
          labels: [{ label: 'io.refresher.deployment', value: config.name }],
        }),
      ]),
    );

    const appImage = new AppImage(this, 'app-image', {
      config,
      source: inputs.appImage,
      stackDir: join(outDir, 'stacks', SERVICES_STACK),
    });
    const images = new Map<string, Image>([[image(config, 'app'), appImage.image]]);
    const services = serviceCatalogue(config);
    for (const service of services) {
      if (images.has(service.image)) continue;
      images.set(
        service.image,
        new Image(this, `image-${service.name}`, { name: service.image, keepLocally: true }),
      );
    }

    const waitedFor = new Set(
      services.flatMap((service) =>
        service.dependsOn.filter((dep) => dep.condition === 'healthy').map((dep) => dep.service),
      ),
    );
    for (const service of services) {
      const dependsOn: ITerraformDependable[] = service.dependsOn.map((dep) => {
        const container = this.containers.get(dep.service);
        if (!container)
          throw new Error(
            `${service.name} depends on ${dep.service}, which comes later or not at all`,
          );
        return container.container;
      });
      this.containers.set(
        service.name,
        new ServiceContainer(this, `service-${service.name}`, {
          service,
          deployment: config.name,
          imageId: images.get(service.image)!.imageId,
          imageHasHealthcheck: service.image === image(config, 'app'),
          network,
          volumes,
          files: inputs.files,
          secretFileContent: (path) => fileVariables.get(path)!.stringValue,
          secret: (name) => secretVariables.get(name)!.stringValue,
          dependsOn,
          waitHealthy: waitedFor.has(service.name),
          publicAddress: host.publicAddress,
        }),
      );
    }

    new TerraformOutput(this, 'containers', {
      value: services.map((service) => service.name),
      description: 'The containers of the deployment (docker ps on the VM)',
    });
    new TerraformOutput(this, 'app_image', {
      value: appImage.image.imageId,
      description: 'The app image on the VM',
    });
  }
}
