"""The choices of the trainer's options, in a module without torch: ``trainer predict`` on the
ONNX engine imports the command line, and the command line must not pull torch in to list them.
:mod:`trainer.augment` and :mod:`trainer.models` validate against these same tuples."""

AUGMENTS = ("none", "scan", "bars", "scan+bars")
ARCHS = ("resnet18", "resnet34", "resnet50", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0",
         "convnext_tiny", "regnet_y_400mf")
