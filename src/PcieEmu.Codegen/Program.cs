using PcieEmu.Codegen;

return CodegenTool.Run(args, Console.Out, Console.Error);
