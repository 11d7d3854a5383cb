"""Docker services of the gateway: records in the storage the composition root passes in,
containers through the `docker` command line (`cli.DockerCli`)."""
