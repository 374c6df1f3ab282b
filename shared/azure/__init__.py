"""The readers: everything that talks to Azure and maps its answers into the app's records (``shared.models``).

- ``clients``: :class:`AzureClients`, the credential and the SDK clients made once at the edge, with the
  throttling retry policy and the trusted-vault-host check;
- ``discovery``: subscriptions and the Key Vaults in them (Resource Manager);
- ``arm``: the guard that keeps every Resource Manager request (and its token) on ``ARM_ENDPOINT``;
- ``keyvault``: one vault's certificates, policies (each certificate's bundle) and the versions services
  reference (the Key Vault data plane), read concurrently with a bounded number of requests in flight, on
  the SDK's asyncio client (``aio``: the event loop and TLS context; ``kvjson``: parsing the bodies;
  ``kverrors``: what a failed read says; ``kvversions``: every version of a referenced certificate);
- ``kvpending``: the pending operation of a certificate whose renewal looks stuck;
- ``services``: the services that reference Key Vault certificates (CertificateBinding), listed through
  Resource Manager;
- ``probe``: what each of their hostnames serves (ServedCertificate): a TLS handshake per address, only a
  ClientHello sent, the leaf read into :class:`~shared.models.HostProbe` records.

Nothing here judges: the rules (``shared.rules``) read the records these modules return.
"""
