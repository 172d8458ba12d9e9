// The app image on the VM: built there by its Docker Engine from the bundle's context (dist/,
// sent over SSH by the docker provider: no registry involved), or pulled from a registry when the
// configuration says so (pullAppImage with images.app).
import { relative } from 'node:path';
import { Construct } from 'constructs';
import { Image } from '@cdktf/provider-docker/lib/image/index.js';
import { image } from '../../templates/catalogue/index.ts';
import type { DeploymentConfig } from '../../templates/config.ts';
import type { AppImageSource } from '../inputs.ts';

export class AppImage extends Construct {
  readonly image: Image;

  constructor(
    scope: Construct,
    id: string,
    props: {
      config: DeploymentConfig;
      source: AppImageSource;
      /** The synthesized stack's folder (cdktf.out/stacks/services). */
      stackDir: string;
    },
  ) {
    super(scope, id);
    const { config, source } = props;
    const name = image(config, 'app');
    if (source.kind === 'pull') {
      this.image = new Image(this, 'image', { name, keepLocally: true });
      return;
    }
    const ookla = String(config.speedtest.acceptOoklaLicense);
    this.image = new Image(this, 'image', {
      name,
      // Old builds stay until `docker image prune`: removing the tag on replacement would race
      // the new build that carries the same tag.
      keepLocally: true,
      buildAttribute: {
        // Paths relative to the stack's folder, where Terraform and its providers run (the
        // provider resolves both against its working folder): the same on every checkout, so
        // moving the repository does not replace the image and every app container.
        context: relative(props.stackDir, source.context) || '.',
        dockerfile: relative(props.stackDir, source.dockerfile),
        buildArgs: { APP_VERSION: source.version, OOKLA_ACCEPT_LICENSE: ookla },
        label: { 'io.refresher.bundle-digest': source.contextDigest },
      },
      // A new bundle (any file of the context) or a change of the licence gate rebuilds the image.
      triggers: { context: source.contextDigest, ookla },
    });
  }
}
