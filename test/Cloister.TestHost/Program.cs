using Cloister;
using Cloister.Remote;

// Usage: Cloister.TestHost <package>
// Loads the package on the remote backend, prints "PROXY_PID=<pid>", then waits to be killed.
var backend = new RemoteBackend();
var options = new EnclaveManagerOptions();
options.Backends.Add(backend);
var manager = new EnclaveManager(options);
var client = await manager.LoadEnclaveAsync(new EnclaveLoadConfig { Name = "victim", PackagePath = args[0], Backend = RemoteBackend.BackendName });
var pid = ((LocalProxyProvision)((ProxyClient)client.Transport!).Provision).ProcessId;
Console.WriteLine($"PROXY_PID={pid}");
await Task.Delay(Timeout.Infinite);
