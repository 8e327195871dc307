using Cloister.Cli;

return await CloisterCommandLine.InvokeAsync(args);
